"""Out-of-scope rejection: `reject_below` answers `reject_label` when the classifier's
top probability is under it, in predict, evaluation and the served signature alike;
"auto" chooses it on the dev set for a target in-scope recall.

Bad input tried: a word other than "auto", a threshold of 1.5, rejection with
multi-label, "auto" without a dev set, an empty reject label.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, write_tiny_checkpoint
from tfbert.data.readers import TextExamples
from tfbert.export import export_for_serving
from tfbert.evaluation.metrics import out_of_scope_metrics
from tfbert.recipe import RecipeError, load_recipe
from tfbert.tasks.text_classifier import TextClassifier
from tiny_models import spread, tiny

SENTIMENT = ROOT / "recipes" / "sentiment.toml"
TEXTS = ["good movie", "bad plot", "the film was fine", "awful awful", "very poor fare",
         "not a great flight", "the weather", "is the movie good", "great great great",
         "a plot", "fine", "the fare was bad"]


def classifier(reject_below=0.0):
    model = spread(TextClassifier(*tiny(3), ["neg", "pos", "mixed"], reject_label="oos"), seed=3)
    model.reject_below = reject_below
    return model


def top_probabilities(model, texts):
    return model.predict(texts)["probabilities"].max(axis=-1)


def test_out_of_scope_metrics():
    gold_oos = np.array([False, False, False, True, True])
    rejected = np.array([False, True, False, True, False])
    correct = np.array([True, False, False, True, False])
    metrics = out_of_scope_metrics(gold_oos, rejected, correct)
    assert metrics["in_scope_accuracy"] == pytest.approx(1 / 3)
    assert metrics["in_scope_rejected"] == pytest.approx(1 / 3)
    assert metrics["out_of_scope_recall"] == pytest.approx(1 / 2)
    assert metrics["out_of_scope_precision"] == pytest.approx(1 / 2)
    assert (metrics["in_scope_examples"], metrics["out_of_scope_examples"]) == (3, 2)
    none = out_of_scope_metrics([False, False], [False, False], [True, True])
    assert none["out_of_scope_recall"] is None and none["out_of_scope_precision"] is None
    assert "no out-of-scope examples; nothing rejected" in none["out_of_scope_warning"]
    with pytest.raises(ValueError, match="differ in length"):
        out_of_scope_metrics([True], [True, False], [True])


@pytest.mark.parametrize("overrides, message", [
    (["classification.reject_below=maybe"], "reject_below must be a number or one of 'auto', got 'maybe'"),
    (["classification.reject_below=1.5"], "reject_below must be in [0, 1) or \"auto\", got 1.5"),
    (["classification.reject_below=0.5", "classification.multi_label=true"],
     "reject_below is for single-label classification"),
    (["classification.reject_below=auto", "data.dev="], "data.dev is required: [classification] "
     'reject_below = "auto" chooses its threshold on the dev set'),
    (["classification.reject_below=0.5", "classification.reject_label="], "reject_label = '' must be"),
])
def test_bad_rejection_settings(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SENTIMENT, overrides)


def test_recipe_takes_a_number_or_auto():
    assert load_recipe(SENTIMENT, ["classification.reject_below=0.7"]).options.reject_below == 0.7
    assert load_recipe(SENTIMENT, ["classification.reject_below=auto"]).options.reject_below == "auto"
    assert load_recipe(SENTIMENT).options.reject_below == 0.0  # off by default


def test_predict_and_served_signature_reject_alike(tmp_path):
    model = classifier()
    top = top_probabilities(model, TEXTS)
    assert top.max() - top.min() > 0.05, "the texts must differ in confidence for this test"
    model.reject_below = float(np.median(top))
    expected_rejected = top < model.reject_below
    assert 0 < expected_rejected.sum() < len(TEXTS)

    outputs = model.predict(TEXTS)
    np.testing.assert_array_equal(outputs["rejected"], expected_rejected)
    best = np.array(["neg", "pos", "mixed"])[outputs["probabilities"].argmax(axis=-1)]
    np.testing.assert_array_equal(outputs["label"], np.where(expected_rejected, "oos", best))
    np.testing.assert_array_equal(outputs["label_id"] == -1, expected_rejected)
    rows = model.postprocessor.prediction_rows(outputs)
    assert [row["label"] for row in rows] == outputs["label"].tolist()
    assert [row["rejected"] for row in rows] == expected_rejected.tolist()

    serve = tf.saved_model.load(str(export_for_serving(model, tmp_path, "oos"))).signatures[
        "serving_default"]
    served = serve(text=tf.constant(TEXTS))
    assert [x.decode() for x in served["label"].numpy()] == outputs["label"].tolist()
    np.testing.assert_array_equal(served["rejected"].numpy(), expected_rejected)
    np.testing.assert_array_equal(served["label_id"].numpy(), outputs["label_id"])


def test_trained_reject_label_keeps_its_id():
    """A classifier trained with an "oos" class answers its index when it rejects."""
    model = spread(TextClassifier(*tiny(3), ["neg", "oos", "pos"], reject_label="oos"), seed=3)
    model.reject_below = 0.999
    outputs = model.predict(TEXTS[:3])
    assert outputs["label"].tolist() == ["oos"] * 3 and outputs["label_id"].tolist() == [1] * 3


def test_out_of_scope_examples_are_scored():
    model = classifier()
    labels = ["neg", "oos", "pos", "oos", "mixed", "unknown", "neg", "oos"]
    examples = TextExamples.given(TEXTS[:8], None, labels)
    with pytest.raises(ValueError, match="unknown"):
        model.preprocessor.encode_targets(examples)
    targets, kept, skipped = model.preprocessor.encode_targets(examples, on_unknown="skip")
    assert kept.tolist() == [0, 1, 2, 3, 4, 6, 7] and skipped == 1
    assert targets.tolist() == [0, -1, 1, -1, 2, 0, -1]

    model.reject_below = float(np.median(top_probabilities(model, TEXTS[:8])))
    kept_texts = [TEXTS[i] for i in kept]
    outputs = model.predict(kept_texts)
    metrics, rows = model.postprocessor.score_outputs(targets, outputs)
    rejected = outputs["rejected"]
    gold_oos = targets < 0
    correct = np.where(gold_oos, rejected, ~rejected & (outputs["label_id"] == targets))
    assert metrics["label_names"] == ["neg", "pos", "mixed", "oos"]
    assert metrics["accuracy"] == pytest.approx(correct.mean())
    assert metrics["in_scope_accuracy"] == pytest.approx(correct[~gold_oos].mean())
    assert metrics["out_of_scope_recall"] == pytest.approx(rejected[gold_oos].mean())
    assert metrics["in_scope_rejected"] == pytest.approx(rejected[~gold_oos].mean())
    assert [row["label"] for row in rows] == ["neg", "oos", "pos", "oos", "mixed", "neg", "oos"]
    assert [row["correct"] for row in rows] == correct.tolist()
    assert any("in-scope accuracy" in name for name, _ in model.postprocessor.metric_summary(metrics))


@pytest.mark.parametrize("recall", [0.5, 0.75, 1.0])
def test_choose_reject_below_is_the_highest_that_keeps_the_recall(recall):
    model = classifier()
    labels = ["neg", "pos", "mixed", "neg"] * 2 + ["oos"] * 4  # out-of-scope rows not counted
    examples = TextExamples.given(TEXTS, None, labels)
    threshold, kept = model.choose_reject_below(examples, recall)
    assert model.reject_below == threshold
    top = top_probabilities(model, TEXTS[:8])
    assert kept == pytest.approx((top >= threshold).mean()) and kept >= recall
    higher = np.nextafter(np.float32(threshold), np.float32(1))
    assert (top >= higher).mean() < recall  # any higher threshold keeps too few


def test_training_with_auto_rejection(tmp_path, capsys):
    from tfbert.run_directory import RunDirectory
    from tfbert.train import train

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = sorted(set(re.findall(r"[a-z]+", text)))[:300]
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", words)
    dev = (ROOT / "recipes" / "data" / "sentiment" / "dev.tsv").read_text().splitlines()
    out_of_scope = ["what time is it", "book me a table for two", "play some jazz"]
    (tmp_path / "dev.tsv").write_text("\n".join(dev + [f"{t}\toos" for t in out_of_scope]) + "\n")
    recipe = load_recipe(SENTIMENT, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=1", "training.batch_size=16", "data.max_train_examples=48",
        f"data.dev={tmp_path / 'dev.tsv'}", "classification.reject_below=auto",
        "classification.reject_recall=0.9"])
    result = train(recipe)
    printed = capsys.readouterr().out
    chosen = re.search(r'reject_below = "auto": (\d\.\d+), which keeps (\d+\.\d)%', printed)
    assert chosen and float(chosen.group(2)) >= 90.0
    dev_metrics = result["dev"]
    assert dev_metrics["out_of_scope_examples"] == 3
    assert dev_metrics["in_scope_rejected"] <= 0.1 + 1e-9
    assert dev_metrics["reject_below"] == pytest.approx(float(chosen.group(1)), abs=1e-4)
    assert "oos" in result["baseline"]["dev"]["label_names"]  # the baseline scored them too
    loaded = RunDirectory(tmp_path / "run").load_task()
    assert loaded.reject_below == pytest.approx(dev_metrics["reject_below"])
    assert loaded.reject_label == "oos"
    report = json.loads((tmp_path / "run" / "eval_dev" / "metrics.json").read_text())
    assert report["out_of_scope_recall"] == dev_metrics["out_of_scope_recall"]
