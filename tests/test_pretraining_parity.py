"""Pretraining heads against Hugging Face: MiniLM with seeded BertForPreTraining heads
(tools/make_pretraining_fixture.py) gives tfbert the reference's MLM and NSP logits,
and a checkpoint tfbert writes loads in transformers with the same logits."""

import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import FIXTURES
from tfbert.tasks.masked_lm import MaskedLanguageModel


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
