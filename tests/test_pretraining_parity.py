"""Pretraining heads against Hugging Face: MiniLM with seeded BertForPreTraining heads
(tools/make_pretraining_fixture.py) gives tfbert the reference's MLM and NSP logits,
and a checkpoint tfbert writes loads in transformers with the same logits.

Without torch (every CI run): tools/make_round_trip_fixture.py recorded what
transformers computes from a tiny seeded checkpoint written by save_hugging_face
(tests/fixtures/round_trip_*). The test here writes that checkpoint again with tfbert,
checks that its files and every tensor hash to what the fixture was made from, and
that tfbert's outputs (the model written, and the directory read back) equal the
recorded transformers outputs within 1e-4 at every position, heads and encoder: the
README's "transformers loads what tfbert writes, logits within 1e-4". With torch, the
recorded outputs are also computed again (the fixture is still what transformers says).
"""

import json
import shutil
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import FIXTURES, ROOT
from tfbert.tasks.masked_lm import MaskedLanguageModel
from tiny_models import assert_rows_match

sys.path.insert(0, str(ROOT / "tools"))
import make_round_trip_fixture as round_trip  # noqa: E402  (builds the model; torch only in main)


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(FIXTURES / "minilm_pretraining_reference.npz"))


@pytest.fixture(scope="module")
def minilm_with_heads(minilm_dir, tmp_path_factory):
    """MiniLM's directory with the fixture's heads added to its weights file."""
    directory = tmp_path_factory.mktemp("heads") / "minilm"
    shutil.copytree(minilm_dir, directory)
    weights = load_file(str(minilm_dir / "model.safetensors"))
    weights.update(load_file(str(FIXTURES / "minilm_pretraining_heads.safetensors")))
    save_file(weights, str(directory / "model.safetensors"))
    return directory


def logits_of(model, reference):
    rows, positions = reference["mask_rows"], reference["mask_positions"]
    width = np.bincount(rows).max()
    masked = np.zeros([len(reference["input_ids"]), width], np.int32)
    slots = [list(positions[rows == r]) for r in range(len(masked))]
    for r, row in enumerate(slots):
        masked[r, :len(row)] = row
    features = {key: reference[key] for key in ("input_ids", "segment_ids", "input_mask")}
    outputs = model({**features, "masked_positions": masked}, training=False)
    mlm = np.concatenate([np.asarray(outputs["masked_lm_logits"])[r, :len(row)]
                          for r, row in enumerate(slots)])
    return mlm, np.asarray(outputs["next_sentence_logits"])


def test_hugging_face_heads_give_the_reference_logits(minilm_with_heads, reference):
    model = MaskedLanguageModel.from_pretrained(minilm_with_heads, next_sentence=True)
    mlm, nsp = logits_of(model, reference)
    assert mlm.shape == reference["masked_lm_logits"].shape and mlm.std() > 1.0
    np.testing.assert_allclose(mlm, reference["masked_lm_logits"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(nsp, reference["next_sentence_logits"], rtol=0, atol=1e-4)


def test_a_checkpoint_tfbert_writes_loads_in_transformers(minilm_with_heads, reference, tmp_path):
    torch = pytest.importorskip("torch")  # the bench environment (make bench-setup) has it
    transformers = pytest.importorskip("transformers")
    model = MaskedLanguageModel.from_pretrained(minilm_with_heads, next_sentence=True)
    for variable in model.masked_lm.weights:  # trained-looking heads, not the fixture's own
        variable.assign(variable + np.random.default_rng(1).normal(0, 0.02, variable.shape))
    written = model.save_artifacts(tmp_path)
    mlm, nsp = logits_of(model, reference)
    theirs = transformers.BertForPreTraining.from_pretrained(str(written)).eval()
    with torch.no_grad():
        out = theirs(input_ids=torch.tensor(reference["input_ids"]).long(),
                     token_type_ids=torch.tensor(reference["segment_ids"]).long(),
                     attention_mask=torch.tensor(reference["input_mask"]).long())
    rows, positions = reference["mask_rows"], reference["mask_positions"]
    np.testing.assert_allclose(out.prediction_logits.numpy()[rows, positions], mlm, atol=1e-4)
    np.testing.assert_allclose(out.seq_relationship_logits.numpy(), nsp, atol=1e-4)
    masked_lm = transformers.BertForMaskedLM.from_pretrained(str(written)).eval()
    with torch.no_grad():
        logits = masked_lm(input_ids=torch.tensor(reference["input_ids"]).long(),
                           token_type_ids=torch.tensor(reference["segment_ids"]).long(),
                           attention_mask=torch.tensor(reference["input_mask"]).long()).logits
    np.testing.assert_allclose(logits.numpy()[rows, positions], mlm, atol=1e-4)


@pytest.fixture(scope="module")
def round_trip_reference():
    return json.loads(round_trip.RECORD.read_text()), dict(np.load(round_trip.REFERENCE))


@pytest.fixture(scope="module")
def round_trip_checkpoint(tmp_path_factory, round_trip_reference):
    """The fixture's checkpoint written again by tfbert (no torch), checked to be the very
    one transformers' recorded outputs were computed from: (directory, model, inputs)."""
    record, reference = round_trip_reference
    directory, model, features = round_trip.write_checkpoint(
        tmp_path_factory.mktemp("round_trip") / "checkpoint")
    rebuild = ("tfbert no longer writes the checkpoint the fixture was made from (save_hugging_face "
               "or make_round_trip_fixture.build() changed). If that is intended, rebuild the fixture "
               "with torch: python tools/make_round_trip_fixture.py; it records what transformers "
               "computes from the new files, and this test then compares tfbert's outputs with those")
    files = round_trip.file_hashes(directory)
    assert sorted(files) == sorted(record["files"]), rebuild
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):  # what transformers reads
        assert files[name] == record["files"][name], f"{name} is not the fixture's; {rebuild}"
    tensors = round_trip.tensor_hashes(directory / "model.safetensors")
    changed = sorted(name for name in set(tensors) | set(record["tensors"])
                     if tensors.get(name) != record["tensors"].get(name))
    assert not changed, f"{len(changed)} tensor(s) differ from the fixture's ({changed[:4]}); {rebuild}"
    for key, value in features.items():
        np.testing.assert_array_equal(value, reference[key])
    return directory, model, features


def tfbert_outputs(model, features):
    """{transformers' output name: tfbert's} for the fixture's inputs, every position."""
    rows, length = features["input_ids"].shape
    every_position = np.tile(np.arange(length, dtype=np.int32), (rows, 1))
    heads = model({**features, "masked_positions": every_position}, training=False)
    encoder = model.encoder(features, training=False)
    return {"prediction_logits": heads["masked_lm_logits"],
            "seq_relationship_logits": heads["next_sentence_logits"],
            "last_hidden_state": encoder["sequence_output"], "pooler_output": encoder["pooled_output"]}


def test_transformers_outputs_recorded_for_what_tfbert_writes_equal_tfberts(round_trip_checkpoint,
                                                                            round_trip_reference):
    directory, written, features = round_trip_checkpoint
    _, reference = round_trip_reference
    read_back = MaskedLanguageModel.from_pretrained(directory, next_sentence=True)
    for model in (written, read_back):
        outputs = tfbert_outputs(model, features)
        for name, value in outputs.items():
            # Rows (input pairs) far apart: a constant or mixed-up answer cannot pass.
            assert_rows_match(np.asarray(value), reference[name], atol=1e-4)
    assert np.asarray(reference["input_mask"]).min() == 0  # padded rows are among them


def test_the_round_trip_fixture_is_what_transformers_computes_now(round_trip_checkpoint,
                                                                   round_trip_reference):
    torch = pytest.importorskip("torch")  # the bench environment (make bench-setup) has it
    transformers = pytest.importorskip("transformers")
    directory, _, features = round_trip_checkpoint
    _, reference = round_trip_reference
    inputs = dict(input_ids=torch.tensor(features["input_ids"]).long(),
                  token_type_ids=torch.tensor(features["segment_ids"]).long(),
                  attention_mask=torch.tensor(features["input_mask"]).long())
    with torch.no_grad():
        heads = transformers.BertForPreTraining.from_pretrained(str(directory)).eval()(**inputs)
        encoder = transformers.BertModel.from_pretrained(str(directory)).eval()(**inputs)
    now = {"prediction_logits": heads.prediction_logits, "seq_relationship_logits":
           heads.seq_relationship_logits, "last_hidden_state": encoder.last_hidden_state,
           "pooler_output": encoder.pooler_output}
    for name, value in now.items():
        np.testing.assert_allclose(value.numpy(), reference[name], rtol=0, atol=1e-5, err_msg=name)
