"""Encoder families other than BERT, read from Hugging Face directories.

Each family's fixture (tests/fixtures/families/<family>/, made by
tools/make_family_fixtures.py) is a small random checkpoint saved by transformers on
PyTorch, with its outputs on a few texts: tfbert loads the directory, tokenizes the
texts itself and must give the same ids and the same outputs, and writes the encoder
back in the family's own layout.

DistilBERT: BERT without segment embeddings and pooler (tfbert/models/distilbert.py).
ELECTRA: BERT with narrower embeddings projected to the blocks, no pooler
(tfbert/models/electra.py); its fixture's embeddings are 16 wide, its blocks 32.

Bad input tried: a DistilBERT config with an unknown key, a DistilBERT encoder given a
segment table, a next-sentence head written as DistilBERT, a family tfbert does not
read (roberta), next-sentence prediction on DistilBERT, masked-LM pretraining on
ELECTRA's narrow embeddings, an embedding_size on a BERT, an ELECTRA decoder.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from conftest import FIXTURES, ROOT
from tfbert import BertEncoder, BertTokenizer
from tfbert.models.checkpoint import read_checkpoint
from tfbert.models.checkpoint_writer import save_hugging_face
from tfbert.models.config import BertConfig
from tfbert.layers.pretraining_heads import head_state, load_head_weights
from tfbert.tasks.masked_lm import MaskedLanguageModel

DISTILBERT = FIXTURES / "families" / "distilbert"
ELECTRA = FIXTURES / "families" / "electra"
# The texts tools/make_family_fixtures.py ran, in its order: singles, then pairs.
TEXTS = ["good movie", "the plot was very bad .", "not a fine film , unlike the fare",
         "weather", "the flight was awful , the fare was poor , the film was great ."]
PAIRS = [("good movie", "bad film"), ("the flight", "was fine .")]


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(DISTILBERT / "reference.npz"))


@pytest.fixture(scope="module")
def distilbert():
    return BertEncoder.from_pretrained(DISTILBERT), BertTokenizer.from_pretrained(DISTILBERT)


def features(tokenizer, width):
    """tfbert's own packing of the fixture's texts, padded to `width`."""
    singles = tokenizer(TEXTS)
    pairs = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS])
    padded = lambda t: tf.pad(t, [[0, 0], [0, width - t.shape[1]]])  # noqa: E731
    return {name: tf.concat([padded(singles[name]), padded(pairs[name])], axis=0)
            for name in singles}


def test_distilbert_config_is_read_as_a_bert_without_segments():
    config = read_checkpoint(DISTILBERT).config
    assert (config.model_type, config.type_vocab_size, config.num_layers, config.hidden_size,
            config.intermediate_size, config.layer_norm_epsilon) == ("distilbert", 0, 2, 32, 64, 1e-12)


def test_distilbert_tokens_and_outputs_equal_transformers(reference, distilbert):
    encoder, tokenizer = distilbert
    ours = features(tokenizer, reference["input_ids"].shape[1])
    np.testing.assert_array_equal(ours["input_ids"].numpy(), reference["input_ids"])
    np.testing.assert_array_equal(ours["input_mask"].numpy(), reference["attention_mask"])
    # The pairs' segment ids are 1 after the first [SEP]: DistilBERT reads none of them.
    assert ours["segment_ids"].numpy()[len(TEXTS):].max() == 1
    hidden = encoder(ours)["sequence_output"].numpy()
    real = reference["attention_mask"].astype(bool)
    expected = reference["last_hidden_state"]
    assert np.abs(expected[real]).max() > 1.0  # outputs that a wrong weight would move
    np.testing.assert_allclose(hidden[real], expected[real], atol=2e-5)


def test_distilbert_masked_lm_head_loads_and_equals_transformers(reference, distilbert):
    encoder, tokenizer = distilbert
    model = MaskedLanguageModel(encoder, tokenizer)
    assert model.load_pretrained_heads(DISTILBERT) == ["masked LM"]
    ours = features(tokenizer, reference["input_ids"].shape[1])
    positions = np.tile(np.arange(ours["input_ids"].shape[1], dtype=np.int32), (len(ours["input_ids"]), 1))
    logits = model({**ours, "masked_positions": positions})["masked_lm_logits"].numpy()
    real = reference["attention_mask"].astype(bool)
    np.testing.assert_allclose(logits[real], reference["masked_lm_logits"][real], atol=5e-5)


def test_distilbert_is_written_back_in_its_own_layout(tmp_path, reference, distilbert):
    encoder, tokenizer = distilbert
    model = MaskedLanguageModel(encoder, tokenizer)
    model.load_pretrained_heads(DISTILBERT)
    written = save_hugging_face(tmp_path / "again", encoder, tokenizer,
                                head_weights=head_state(model.masked_lm),
                                architecture="BertForMaskedLM")
    original, again = load_file(DISTILBERT / "model.safetensors"), load_file(written / "model.safetensors")
    assert sorted(again) == sorted(original)  # every name as DistilBERT spells it, no pooler
    for name, value in original.items():
        np.testing.assert_array_equal(again[name], value, err_msg=name)
    config = json.loads((written / "config.json").read_text())
    assert config["model_type"] == "distilbert" and config["architectures"] == ["DistilBertForMaskedLM"]
    assert {k: config[k] for k in ("dim", "n_layers", "n_heads", "hidden_dim", "vocab_size")} == {
        "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64, "vocab_size": 29}
    assert "type_vocab_size" not in config and "hidden_size" not in config
    reloaded = BertEncoder.from_pretrained(written)
    ours = features(tokenizer, reference["input_ids"].shape[1])
    np.testing.assert_array_equal(reloaded(ours)["sequence_output"].numpy(),
                                  encoder(ours)["sequence_output"].numpy())


def test_a_distilbert_recipe_trains_evaluates_and_exports(tmp_path):
    from tfbert.recipe import load_recipe
    from tfbert.run_directory import RunDirectory
    from tfbert.train import train

    result = train(load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"checkpoint={DISTILBERT}", f"output_dir={tmp_path / 'run'}", "data.max_train_examples=64",
        "training.epochs=1", "training.batch_size=16", f"export.dir={tmp_path / 'saved_models'}",
        "training.baseline=false"]))
    assert "accuracy" in result["dev"]
    task = RunDirectory(tmp_path / "run").load_task()
    assert task.encoder.bert_config.model_type == "distilbert"
    texts = ["good movie", "the plot was very bad .", "weather"]
    served = tf.saved_model.load(str(next((tmp_path / "saved_models" / "sentiment").iterdir())))
    answers = served.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(answers["logits"].numpy(), task.predict(texts)["logits"], atol=1e-5)


def test_bad_family_configs(tmp_path):
    values = json.loads((DISTILBERT / "config.json").read_text())
    with pytest.raises(ValueError, match=re.escape("unknown key(s) hidden_size for model_type 'distilbert'")):
        BertConfig.from_checkpoint_dict({**values, "hidden_size": 64}, source="x/config.json")
    with pytest.raises(ValueError, match=re.escape("n_layers must be a positive integer, got 0")):
        BertConfig.from_checkpoint_dict({**values, "n_layers": 0}, source="x/config.json")
    with pytest.raises(ValueError, match="a distilbert encoder has no segment embedding"):
        BertConfig(vocab_size=10, model_type="distilbert", type_vocab_size=2)
    with pytest.raises(ValueError, match=re.escape("model_type 'roberta' is not supported")):
        BertConfig.from_checkpoint_dict({"vocab_size": 10, "model_type": "roberta"})


def test_next_sentence_prediction_is_refused_for_distilbert(tmp_path, distilbert):
    encoder, tokenizer = distilbert
    with pytest.raises(ValueError, match="a distilbert encoder has no segment embedding: set "
                                         "next_sentence = false"):
        MaskedLanguageModel(encoder, tokenizer, next_sentence=True)
    with pytest.raises(ValueError, match="distilbert has no next-sentence head"):
        save_hugging_face(tmp_path / "nsp", encoder, tokenizer,
                          head_weights={"cls.seq_relationship.bias": np.zeros(2, np.float32)})
    assert not (tmp_path / "nsp").exists()


def test_head_weights_read_from_a_distilbert_checkpoint_are_the_vocab_heads(distilbert):
    encoder, tokenizer = distilbert
    model = MaskedLanguageModel(encoder, tokenizer)
    checkpoint = read_checkpoint(DISTILBERT)
    assert "cls.predictions.transform.dense.weight" in checkpoint.weights
    assert load_head_weights(checkpoint, model.masked_lm) == ["masked LM"]


def test_electra_tokens_and_outputs_equal_transformers():
    reference = dict(np.load(ELECTRA / "reference.npz"))
    encoder, tokenizer = BertEncoder.from_pretrained(ELECTRA), BertTokenizer.from_pretrained(ELECTRA)
    assert (encoder.bert_config.model_type, encoder.bert_config.embedding_width,
            encoder.bert_config.hidden_size) == ("electra", 16, 32)
    ours = features(tokenizer, reference["input_ids"].shape[1])
    np.testing.assert_array_equal(ours["input_ids"].numpy(), reference["input_ids"])
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), reference["token_type_ids"])
    hidden = encoder(ours)["sequence_output"].numpy()
    real = reference["attention_mask"].astype(bool)
    assert np.abs(reference["last_hidden_state"][real]).max() > 1.0
    np.testing.assert_allclose(hidden[real], reference["last_hidden_state"][real], atol=2e-5)


def test_electra_is_written_back_in_its_own_layout(tmp_path):
    encoder, tokenizer = BertEncoder.from_pretrained(ELECTRA), BertTokenizer.from_pretrained(ELECTRA)
    written = save_hugging_face(tmp_path / "again", encoder, tokenizer)
    original, again = load_file(ELECTRA / "model.safetensors"), load_file(written / "model.safetensors")
    encoder_names = sorted(name for name in original if name.startswith("electra."))
    assert sorted(again) == encoder_names  # the discriminator's head is not the encoder's
    for name in encoder_names:
        np.testing.assert_array_equal(again[name], original[name], err_msg=name)
    config = json.loads((written / "config.json").read_text())
    assert (config["model_type"], config["embedding_size"], config["hidden_size"],
            config["architectures"]) == ("electra", 16, 32, ["ElectraModel"])
    assert BertConfig.from_json_file(written / "config.json") == encoder.bert_config
    with pytest.raises(ValueError, match=re.escape("must be as wide as the hidden states (32); "
                                                   "this electra encoder's is 16")):
        MaskedLanguageModel(encoder, tokenizer)


def test_bad_electra_configs():
    values = json.loads((ELECTRA / "config.json").read_text())
    with pytest.raises(ValueError, match=re.escape("is_decoder=true is not supported")):
        BertConfig.from_checkpoint_dict({**values, "is_decoder": True})
    with pytest.raises(ValueError, match=re.escape("embedding_size must be an integer >= 0")):
        BertConfig.from_checkpoint_dict({**values, "embedding_size": -1})
    with pytest.raises(ValueError, match=re.escape("an embedding_size (16) other than hidden_size "
                                                   "(32) is ELECTRA's")):
        BertConfig(vocab_size=10, hidden_size=32, num_heads=4, embedding_size=16)
    with pytest.raises(ValueError, match=re.escape("unknown key(s) embedding_size")):
        BertConfig.from_checkpoint_dict({"vocab_size": 10, "embedding_size": 16})  # a BERT config

