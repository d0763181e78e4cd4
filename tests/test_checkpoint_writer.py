"""Writing Hugging Face checkpoints: what tfbert writes, tfbert (and the original
file's names and values) read back exactly; bad input is refused."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from tfbert import BertEncoder, BertTokenizer
from tfbert.models.checkpoint_writer import WEIGHTS_FILE, save_hugging_face
from tiny_models import VOCAB, spread, tiny


def test_minilm_written_back_equals_its_original_weights(minilm_dir, minilm_encoder, tmp_path):
    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    written = save_hugging_face(tmp_path / "minilm", minilm_encoder, tokenizer)
    original = load_file(str(minilm_dir / "model.safetensors"))
    original = {name: value for name, value in original.items()
                if not name.endswith("position_ids")}
    ours = load_file(str(written / WEIGHTS_FILE))
    assert sorted(ours) == sorted("bert." + name for name in original)
    for name, value in original.items():
        np.testing.assert_array_equal(ours["bert." + name], value, err_msg=name)
    assert (written / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == \
        (minilm_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:30522]
    config = json.loads((written / "config.json").read_text())
    reference = json.loads((minilm_dir / "config.json").read_text())
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "layer_norm_eps", "max_position_embeddings",
                "type_vocab_size", "model_type", "pad_token_id"):
        assert config[key] == reference[key], key


def test_a_written_checkpoint_loads_as_the_same_model(tmp_path):
    encoder, tokenizer = tiny()
    spread(encoder)
    written = save_hugging_face(tmp_path / "tiny", encoder, tokenizer,
                                head_weights={"cls.predictions.bias": np.arange(len(VOCAB))})
    again = BertEncoder.from_pretrained(written)  # the head weight is skipped, not an error
    features = tokenizer(["good movie", "the plot was not very good at all"])
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(again(features)[key], encoder(features)[key], atol=1e-6)
    reread = BertTokenizer.from_pretrained(written)
    assert reread.vocabulary == tokenizer.vocabulary and reread.lowercase == tokenizer.lowercase
    assert load_file(str(written / WEIGHTS_FILE))["cls.predictions.bias"].dtype == np.float32


def test_an_existing_directory_is_kept_unless_overwrite(tmp_path):
    encoder, tokenizer = tiny()
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists.*overwrite"):
        save_hugging_face(target, encoder, tokenizer)
    assert (target / "keep.txt").read_text() == "mine"
    save_hugging_face(target, encoder, tokenizer, overwrite=True)
    assert not (target / "keep.txt").exists() and (target / WEIGHTS_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left


def test_mismatched_vocabulary_and_clashing_head_names_are_refused(tmp_path):
    encoder, _ = tiny()
    with pytest.raises(ValueError, match=r"tokenizer has 6 tokens but the encoder's vocab_size"):
        save_hugging_face(tmp_path / "a", encoder, BertTokenizer(VOCAB[:6]))
    with pytest.raises(ValueError, match="would overwrite an encoder weight"):
        save_hugging_face(tmp_path / "b", encoder, BertTokenizer(VOCAB),
                          head_weights={"bert.pooler.dense.bias": np.zeros(32)})
    assert not any(tmp_path.iterdir())
