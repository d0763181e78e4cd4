"""Writes the round-trip fixture: a tiny seeded tfbert model written with
save_hugging_face, and what transformers computes when it loads that directory.

    pip install torch==2.13.0        # transformers is in the project's environment
    python tools/make_round_trip_fixture.py

  tests/fixtures/round_trip_reference.npz   the inputs (ids, segments, mask: pairs,
                                            padded) and transformers' outputs for them:
                                            BertForPreTraining's prediction_logits
                                            [B, T, V] and seq_relationship_logits [B, 2],
                                            BertModel's last_hidden_state [B, T, H] and
                                            pooler_output [B, H]
  tests/fixtures/round_trip_checkpoint.json what made the checkpoint: seed, config,
                                            vocabulary, the sha256 of every file written
                                            and of every tensor of its model.safetensors,
                                            torch's and transformers' versions

tests/test_pretraining_parity.py rebuilds the same checkpoint with tfbert alone (no
torch), checks that the tensors it writes hash to the recorded ones, and compares
tfbert's outputs with transformers' recorded ones within 1e-4: the README's claim
("transformers loads what tfbert writes, logits within 1e-4") checked in every run, not
only where torch is installed.

The model is `build()`: the architecture from tfbert's layers, and every weight drawn
from numpy's seeded generator (not Keras' initializers, so that a new Keras draws the
same checkpoint), large enough that different inputs get clearly different outputs.
Run this script again after changing `build()`, the inputs, or how tfbert writes a
checkpoint: the test says so when the hashes no longer match.
"""

import hashlib
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
REFERENCE = FIXTURES / "round_trip_reference.npz"
RECORD = FIXTURES / "round_trip_checkpoint.json"

SEED = 4021
WORDS = ("the film was good bad great awful plot movie not very a is it i loved hated every "
         "minute of flight to boston paris cancel my service slow ##s ##ing ##ed . , !").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
CONFIG = dict(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
              max_position_embeddings=40, type_vocab_size=2, hidden_dropout=0.0,
              attention_dropout=0.0)
PAIRS = [  # (A, B): pairs of different lengths, so that rows are padded differently
    ("the film was a [MASK] .", "i loved every minute of it !"),
    ("cancel my flight to boston", "the service was very slow"),
    ("it is not a good movie", "bad"),
    ("paris", "the plot was awful , i hated it ."),
    ("[MASK] [MASK] great", "a movie , a film , a plot , a flight"),
]
WEIGHT_STDDEV = 0.2  # kernels, embeddings and biases; LayerNorm scales 1 + this much noise


def build(seed=SEED):
    """(MaskedLanguageModel with next-sentence head, tokenizer): the fixture's model."""
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.tasks.masked_lm import MaskedLanguageModel

    keras.utils.set_random_seed(seed)  # only the architecture is Keras'; weights follow
    tokenizer = BertTokenizer(VOCAB, max_length=CONFIG["max_position_embeddings"])
    model = MaskedLanguageModel(BertEncoder(vocab_size=len(VOCAB), **CONFIG), tokenizer,
                                next_sentence=True)
    rng = np.random.default_rng(seed)
    for variable in model.weights:  # in construction order: a fixed order for the draws
        noise = rng.normal(0.0, WEIGHT_STDDEV, variable.shape)
        gamma = variable.path.endswith("/gamma")
        variable.assign((1.0 + noise if gamma else noise).astype(np.float32))
    return model, tokenizer


def inputs(tokenizer):
    """{input_ids, segment_ids, input_mask}: int32 [B, T] of PAIRS, padded."""
    features = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS])
    return {key: np.asarray(features[key], np.int32)
            for key in ("input_ids", "segment_ids", "input_mask")}


def tensor_hashes(weights_file):
    """{name: "sha256 shape dtype"} of every tensor of a safetensors file."""
    from safetensors.numpy import load_file

    return {name: f"{hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()} "
                  f"{list(value.shape)} {value.dtype}"
            for name, value in sorted(load_file(str(weights_file)).items())}


def file_hashes(directory):
    """{file name: sha256} of a written checkpoint directory."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(pathlib.Path(directory).iterdir())}


def write_checkpoint(directory):
    """Builds the model and writes it as tfbert writes a pretraining checkpoint
    (save_hugging_face with both heads); returns (directory, model, features)."""
    from tfbert.layers.pretraining_heads import head_state
    from tfbert.models.checkpoint_writer import save_hugging_face

    model, tokenizer = build()
    path = save_hugging_face(directory, model.encoder, tokenizer,
                             head_weights=head_state(model.masked_lm, model.next_sentence_head),
                             architecture="BertForPreTraining", overwrite=True)
    return pathlib.Path(path), model, inputs(tokenizer)


def main():
    import tempfile

    import torch
    import transformers

    with tempfile.TemporaryDirectory() as scratch:
        directory, _, features = write_checkpoint(pathlib.Path(scratch) / "checkpoint")
        torch_inputs = dict(input_ids=torch.tensor(features["input_ids"]).long(),
                            token_type_ids=torch.tensor(features["segment_ids"]).long(),
                            attention_mask=torch.tensor(features["input_mask"]).long())
        loaded = {}
        for kind in (transformers.BertForPreTraining, transformers.BertModel):
            model, info = kind.from_pretrained(str(directory), output_loading_info=True)
            # Every weight the model has comes from the file (BertModel leaves cls.* out).
            assert not info["missing_keys"] and not info["mismatched_keys"], (kind.__name__, info)
            loaded[kind] = model.eval()
        pretraining, bare = loaded[transformers.BertForPreTraining], loaded[transformers.BertModel]
        with torch.no_grad():
            heads = pretraining(**torch_inputs)
            encoder = bare(**torch_inputs)
        weights = directory / "model.safetensors"
        record = {
            "made_by": "tools/make_round_trip_fixture.py",
            "seed": SEED, "config": CONFIG, "vocab": VOCAB, "pairs": PAIRS,
            "weight_stddev": WEIGHT_STDDEV,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "files": file_hashes(directory),  # model.safetensors' bytes: for the record
            "tensors": tensor_hashes(weights),
        }
    FIXTURES.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        REFERENCE, **features,
        prediction_logits=heads.prediction_logits.numpy().astype(np.float32),
        seq_relationship_logits=heads.seq_relationship_logits.numpy().astype(np.float32),
        last_hidden_state=encoder.last_hidden_state.numpy().astype(np.float32),
        pooler_output=encoder.pooler_output.numpy().astype(np.float32))
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {REFERENCE.relative_to(ROOT)} ({REFERENCE.stat().st_size} bytes) and "
          f"{RECORD.relative_to(ROOT)}: {len(record['tensors'])} tensors, "
          f"{features['input_ids'].shape[0]} rows of {features['input_ids'].shape[1]} tokens; "
          f"torch {torch.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    sys.exit(main())
