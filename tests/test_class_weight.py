"""Class imbalance: balanced class weights in training, and labels never predicted in
every report."""

import re

import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.evaluation.metrics import classification_metrics, multilabel_metrics
from tfbert.recipe import RecipeError, load_recipe
from tfbert.evaluation.report import format_summary
from tfbert.tasks.text_classifier import TextClassifier

SENTIMENT = ROOT / "recipes" / "sentiment.toml"


def test_labels_never_predicted_are_named():
    metrics = classification_metrics([0, 0, 1, 2], [0, 0, 0, 0], ["a", "b", "c", "d"])
    assert metrics["never_predicted"] == ["b", "c"]  # "d" has no examples: not flagged
    summary = format_summary([("accuracy", metrics["accuracy"])], metrics)
    assert "warning: 2 label(s) with examples never predicted: 'b', 'c'" in summary
    assert classification_metrics([0, 1], [1, 0], ["a", "b"])["never_predicted"] == []
    multi = multilabel_metrics([[1, 1], [1, 0]], [[1, 0], [1, 0]], ["x", "y"])
    assert multi["never_predicted"] == ["y"]


def test_balanced_class_weights():
    targets = np.array([0] * 9 + [1])
    weights = TextClassifier.fit_options(None, load_recipe(
        SENTIMENT, ["classification.class_weight=balanced"]).options, targets)["class_weight"]
    assert weights == pytest.approx({0: 10 / (2 * 9), 1: 10 / (2 * 1)})
    assert TextClassifier.fit_options(None, load_recipe(SENTIMENT).options, targets) == {}


@pytest.mark.parametrize("overrides, message", [
    (["classification.class_weight=auto"], "class_weight = 'auto' is not one of"),
    (["classification.class_weight=balanced", "classification.multi_label=true"],
     "is for single-label classification"),
])
def test_bad_class_weight(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SENTIMENT, overrides)


def test_training_with_balanced_class_weights(tmp_path, capsys):
    from tfbert.train import train

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = sorted(set(re.findall(r"[a-z]+", text)))[:300]
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", words)
    recipe = load_recipe(SENTIMENT, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=1", "training.batch_size=16", "data.max_train_examples=64",
        "classification.class_weight=balanced", "training.baseline=false"])
    result = train(recipe)
    assert re.search(r"class weights: negative \d\.\d\d, positive \d\.\d\d", capsys.readouterr().out)
    assert result["steps_run"] == 4
