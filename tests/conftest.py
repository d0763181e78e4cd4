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


def write_tiny_checkpoint(directory, words, seed=0, **config):
    """A random tiny BERT as a Hugging Face directory (config, vocab, safetensors)."""
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.checkpoint_writer import save_hugging_face

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
    keras.utils.set_random_seed(seed)
    encoder = BertEncoder(**dict(TINY_CONFIG, vocab_size=len(vocab), **config))
    return save_hugging_face(directory, encoder, BertTokenizer(vocab), overwrite=True)


def write_dropout_free_sentiment_checkpoint(directory):
    """A tiny BERT on the sample sentiment words, without dropout: replicas of a
    distributed run draw their own dropout masks, so runs compared weight by weight
    across device counts must have none."""
    import re

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = sorted(set(re.findall(r"[a-z]+", text)))[:300]
    return write_tiny_checkpoint(directory, words, hidden_dropout=0.0, attention_dropout=0.0)
