import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
# The benchmark datasets sit beside the project, never inside it.
DATA = ROOT.parent / "shared" / "data"

TINY_CONFIG = dict(
    vocab_size=100,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=2,
)


@pytest.fixture(scope="session")
def minilm_dir():
    from tfbert.pretrained import resolve_checkpoint_dir

    return resolve_checkpoint_dir("all-minilm-l6-v2")


@pytest.fixture(scope="session")
def minilm_encoder():
    from tfbert import BertEncoder

    return BertEncoder.from_pretrained("all-minilm-l6-v2")


def write_tiny_checkpoint(directory, words, seed=0):
    """A random tiny BERT as a Hugging Face directory (config, vocab, safetensors)."""
    import json

    import keras
    import numpy as np
    from safetensors.numpy import save_file

    from tfbert import BertEncoder
    from tfbert.checkpoint import encoder_weight_names

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = dict(TINY_CONFIG, vocab_size=len(vocab))
    (directory / "config.json").write_text(json.dumps({
        "vocab_size": config["vocab_size"], "hidden_size": config["hidden_size"],
        "num_hidden_layers": config["num_layers"], "num_attention_heads": config["num_heads"],
        "intermediate_size": config["intermediate_size"],
        "max_position_embeddings": config["max_position_embeddings"], "model_type": "bert",
    }))
    keras.utils.set_random_seed(seed)
    encoder = BertEncoder(**config)
    weights = {}
    for variable, names in encoder_weight_names(encoder):
        value = np.asarray(variable)
        parts = np.split(value, len(names), axis=-1)
        for name, part in zip(names, parts):
            if part.ndim == 2 and not name.startswith("embeddings."):
                part = part.T  # stored as torch.nn.Linear [out, in]
            weights[name] = np.ascontiguousarray(part, np.float32)
    save_file(weights, directory / "model.safetensors")
    return directory
