"""head = "auto": the pooling a checkpoint's sentence-transformers files name."""

import json
import re

import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.models.checkpoint_pooling import checkpoint_pooling
from tfbert.models.pretrained import resolve_checkpoint_dir
from tfbert.recipe import load_recipe

SENTIMENT = ROOT / "recipes" / "sentiment.toml"


def sentence_transformers_files(directory, **flags):
    (directory / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(flags))


def test_minilm_was_trained_with_mean_pooling():
    head, reason = checkpoint_pooling(resolve_checkpoint_dir("all-minilm-l6-v2"))
    assert head == "mean" and "pooling_mode_mean_tokens" in reason


@pytest.mark.parametrize("flags, head", [
    ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, "cls"),
    ({"pooling_mode_mean_tokens": True}, "mean"),
    ({"pooling_mode_max_tokens": True}, "cls"),  # no head of tfbert's: [CLS], said so
])
def test_pooling_flags(tmp_path, flags, head):
    sentence_transformers_files(tmp_path, **flags)
    assert checkpoint_pooling(tmp_path)[0] == head


def test_plain_bert_and_broken_files(tmp_path):
    assert checkpoint_pooling(tmp_path) == ("cls", "no sentence-transformers modules.json: "
                                                   "[CLS], BERT's own pooling")
    (tmp_path / "modules.json").write_text("[{not json")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'modules.json'}: cannot read")):
        checkpoint_pooling(tmp_path)


def test_training_with_head_auto_uses_the_checkpoint_pooling(tmp_path, capsys):
    from tfbert.train import train

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sorted(set(re.findall(r"[a-z]+", text)))[:300])
    sentence_transformers_files(checkpoint, pooling_mode_mean_tokens=True)
    recipe = load_recipe(SENTIMENT, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=1", "training.batch_size=32", "data.max_train_examples=64",
        "classification.head=auto", "training.baseline=false"])
    train(recipe)
    assert 'head = "auto": mean' in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "task.json").read_text())["config"]
    assert config["head"] == "mean"
