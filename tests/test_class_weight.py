"""Class imbalance: balanced class weights in training, and labels never predicted in
every report."""

import re

import keras
import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from tfbert.evaluation.metrics import classification_metrics, multilabel_metrics
from tfbert.recipe import RecipeError, load_recipe
from tfbert.evaluation.report import format_summary
from tfbert.tasks.text_classifier import ClassificationPreprocessor

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
    preprocessor = ClassificationPreprocessor(None, {
        "label_names": ["a", "b"], "multi_label": False, "label_separator": "#", "reject_label": ""})
    weights = preprocessor.fit_options(load_recipe(
        SENTIMENT, ["classification.class_weight=balanced"]).options, targets)["class_weight"]
    assert weights == pytest.approx({0: 10 / (2 * 9), 1: 10 / (2 * 1)})
    assert preprocessor.fit_options(load_recipe(SENTIMENT).options, targets) == {}


@pytest.mark.parametrize("overrides, message", [
    (["classification.class_weight=auto"], "class_weight = 'auto' is not one of"),
    (["classification.class_weight=balanced", "classification.multi_label=true"],
     "is for single-label classification"),
])
def test_bad_class_weight(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SENTIMENT, overrides)


@pytest.mark.slow  # four steps through train(); the effect of the weights is checked below
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


# --- The weights reach Keras' fit and change the training ---------------------------

# A skewed set: 14 negative texts, 2 positive; "balanced" weighs them 16/28 and 16/4.
SKEWED = [("the plot was bad", "negative"), ("awful film", "negative"), ("a poor movie", "negative"),
          ("bad acting and a bad plot", "negative"), ("not good", "negative"), ("awful", "negative"),
          ("the film was poor", "negative"), ("a bad movie", "negative"), ("the plot is awful", "negative"),
          ("poor", "negative"), ("not a good film", "negative"), ("bad bad bad", "negative"),
          ("the movie was not fine", "negative"), ("awful and poor", "negative"),
          ("a great film", "positive"), ("the movie was very good", "positive")]


def train_one_step(tmp_path, name, overrides=(), inject_class_weight=None):
    """train() on the skewed set for exactly one optimizer step (one batch, no warm-up,
    no dropout, no dev set), watching Keras' own fit: returns what reached it (its
    class_weight argument and the step's loss) and the trained weights. With
    `inject_class_weight`, that class_weight is added to the call Keras' fit receives,
    as a user calling keras.Model.fit(..., class_weight=...) would pass it."""
    from tfbert.train import train

    data = tmp_path / "skewed.tsv"
    if not data.exists():
        data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in SKEWED))
    words = sorted({word for text, _ in SKEWED for word in text.split()})
    checkpoint = tmp_path / "tiny"
    if not checkpoint.exists():
        write_tiny_checkpoint(checkpoint, words)
    recipe = load_recipe(SENTIMENT, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / name}", f"data.train={data}",
        'data.dev=""', "export.enabled=false", "training.baseline=false", "training.epochs=1",
        "training.batch_size=16", "training.warmup_ratio=0", "training.dropout=0",
        "classification.head=cls", *overrides])
    seen = {}
    keras_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        if inject_class_weight is not None:
            assert "class_weight" not in kwargs
            kwargs["class_weight"] = inject_class_weight
        seen.update(task=self, class_weight=kwargs.get("class_weight"))
        history = keras_fit(self, *args, **kwargs)
        seen["loss"] = history.history["loss"]
        return history

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "fit", fit)
        result = train(recipe)
    assert result["steps_run"] == 1 and len(seen["loss"]) == 1
    seen["weights"] = [np.array(w) for w in seen["task"].get_weights()]
    return seen


def test_balanced_class_weights_reach_keras_fit_and_change_the_step(tmp_path):
    """Dropping the class weights anywhere between the recipe and Keras' fit fails here:
    the weighted run must differ from an unweighted one, in loss and in weights, and be
    the very run that passing the same class_weight to Keras' fit gives."""
    weighted = train_one_step(tmp_path, "weighted", ["classification.class_weight=balanced"])
    plain = train_one_step(tmp_path, "plain")
    labels = [label for _, label in SKEWED]
    names = weighted["task"].label_names
    by_hand = {names.index(name): len(labels) / (len(names) * labels.count(name)) for name in names}
    assert by_hand == pytest.approx({0: 16 / 28, 1: 16 / 4})
    direct = train_one_step(tmp_path, "direct", inject_class_weight=by_hand)

    assert plain["class_weight"] is None
    assert weighted["class_weight"] == pytest.approx(by_hand)
    # The weights change the step: the loss Keras reports is the weighted one, and the
    # update differs (most of all in the classifier head).
    assert abs(weighted["loss"][0] - plain["loss"][0]) > 1e-4, (weighted["loss"], plain["loss"])
    gap = max(np.abs(a - b).max() for a, b in zip(weighted["weights"], plain["weights"]))
    assert gap > 1e-4, gap
    # ... exactly as Keras' fit weighs them when given them directly.
    assert weighted["loss"] == pytest.approx(direct["loss"], rel=1e-6, abs=1e-7)
    for a, b in zip(weighted["weights"], direct["weights"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
