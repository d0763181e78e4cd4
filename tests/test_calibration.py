"""Calibration: a temperature fitted on dev examples divides the logits before the
softmax (one per label for multi-label), in predict, evaluation and the served
signature alike; reports give the expected calibration error (ECE), Brier score and a
reliability diagram, before and after.

Bad input tried: a dev set of one class (a message, no temperature), a multi-label dev
set where no label varies, a temperature of 0, -1, inf, a list of the wrong length,
a list for a single-label classifier.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax

from conftest import ROOT, write_tiny_checkpoint
from tfbert.data.readers import TextExamples
from tfbert.evaluation.calibration import (CalibrationError, apply_temperature,
                                           calibration_metrics, fit_temperature)
from tfbert.evaluation.evaluate import evaluate_task
from tfbert.export import export_for_serving
from tfbert.recipe import load_recipe
from tfbert.tasks.text_classifier import TextClassifier
from tiny_models import WORDS, spread, tiny

LABELS = ["neg", "pos", "mixed"]


def texts(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 10))) for _ in range(count)]


def classifier(**kwargs):
    return spread(TextClassifier(*tiny(3), LABELS, **kwargs), seed=3, scale=0.5)


def sampled(logits, temperature, seed):
    """Labels drawn from softmax(logits / temperature): what a model whose true
    temperature is `temperature` would see."""
    rng = np.random.default_rng(seed)
    p = softmax(logits / temperature, axis=1)
    return np.array([rng.choice(len(row), p=row) for row in p])


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_at():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (20000, 5))
    for true in (0.5, 2.5):
        assert fit_temperature(logits, sampled(logits, true, 1)) == pytest.approx(true, rel=0.05)
    # Multi-label: each label its own temperature; a label with too few examples on
    # one side (always absent, or present 5 times) takes the one shared by all cells.
    truth = np.stack([rng.random(20000) < 1 / (1 + np.exp(-logits[:, j] / t))
                      for j, t in enumerate((0.5, 2.0, 1.0))], axis=1).astype(int)
    rare = np.zeros((20000, 2), int)
    rare[:5, 1] = 1
    truth = np.concatenate([truth, rare], axis=1)
    fitted = fit_temperature(logits, truth, multi_label=True)
    np.testing.assert_allclose(fitted[:3], [0.5, 2.0, 1.0], rtol=0.08)
    shared = fit_temperature(logits.ravel()[:, None], truth.ravel()[:, None], multi_label=True)
    assert fitted[3] == fitted[4] == pytest.approx(shared[0], rel=1e-4)
    assert fitted[3] not in fitted[:3]


def test_ece_brier_and_log_loss_by_hand():
    # 10 examples at top probability 0.9, 6 right: one bin, |0.6 - 0.9| = 0.3.
    probabilities = np.tile([[0.9, 0.1]], (10, 1))
    targets = np.array([0] * 6 + [1] * 4)
    figures = calibration_metrics(probabilities, targets)
    assert figures["ece"] == pytest.approx(0.3)
    assert figures["brier"] == pytest.approx((6 * 0.02 + 4 * (0.81 + 0.81)) / 10)
    assert figures["log_loss"] == pytest.approx(-(6 * np.log(0.9) + 4 * np.log(0.1)) / 10)
    assert sum(row["count"] for row in figures["reliability"]) == 10
    assert [row["count"] for row in figures["reliability"]][13] == 10  # (0.867, 0.933]
    # Two bins that are each right on average: ECE 0.
    probabilities = np.array([[0.6, 0.4]] * 5 + [[0.1, 0.9]] * 10)
    targets = np.array([0, 0, 0, 1, 1] + [1] * 9 + [0])
    assert calibration_metrics(probabilities, targets)["ece"] == pytest.approx(0.0, abs=1e-12)


def test_one_class_or_nothing_varying_is_refused():
    logits = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(CalibrationError, match=r"one class only \('pos', 50 examples\)"):
        fit_temperature(logits, np.ones(50, int), label_names=LABELS)
    with pytest.raises(CalibrationError, match="no label is both present and absent"):
        fit_temperature(logits, np.zeros((50, 3), int), multi_label=True)
    # Every answer right: the log loss falls without end as T -> 0; nothing to fit.
    with pytest.raises(CalibrationError, match="answers all 50 examples right"):
        fit_temperature(logits, logits.argmax(axis=1))
    with pytest.raises(CalibrationError, match="answers every label of all 50 examples right"):
        fit_temperature(logits, (logits > 0).astype(int), multi_label=True)


def test_a_label_answered_right_throughout_takes_the_shared_temperature():
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, (4000, 3))
    truth = (rng.random((4000, 3)) < 1 / (1 + np.exp(-logits / 2.0))).astype(int)
    truth[:, 2] = logits[:, 2] > 0  # separable: its own fit would run to T -> 0
    fitted = fit_temperature(logits, truth, multi_label=True)
    shared = fit_temperature(logits.ravel()[:, None], truth.ravel()[:, None], multi_label=True)[0]
    assert fitted[2] == pytest.approx(shared, rel=1e-4)
    np.testing.assert_allclose(fitted[:2], [2.0, 2.0], rtol=0.15)


@pytest.mark.parametrize("temperature, message", [
    (0.0, "positive and finite"), (-1.0, "positive and finite"), (float("inf"), "positive and finite"),
    ([1.0, 2.0, 3.0], "a list of temperatures is for a multi-label classifier")])
def test_bad_temperatures(temperature, message):
    with pytest.raises(ValueError, match=message):
        TextClassifier(*tiny(), LABELS, temperature=temperature)
    with pytest.raises(ValueError, match="one per label \\(3\\); got 2"):
        TextClassifier(*tiny(), LABELS, multi_label=True, temperature=[1.0, 2.0])


def test_the_temperature_moves_no_answer_and_reaches_the_export(tmp_path):
    model = classifier()
    sample = texts(40, 1)
    before = model.predict(sample)
    model.temperature = 2.5
    after = model.predict(sample)
    assert len(set(before["label"])) >= 2  # answers differ: a mix-up would show
    np.testing.assert_array_equal(after["label"], before["label"])
    np.testing.assert_allclose(after["logits"], before["logits"], atol=1e-6)
    np.testing.assert_allclose(after["probabilities"], softmax(before["logits"] / 2.5, axis=1),
                               atol=1e-6)
    assert np.abs(after["probabilities"] - before["probabilities"]).max() > 0.05

    served = tf.saved_model.load(str(export_for_serving(model, tmp_path, "calibrated"))).signatures[
        "serving_default"](text=tf.constant(sample))
    np.testing.assert_allclose(served["probabilities"].numpy(), after["probabilities"], atol=1e-5)

    multi = spread(TextClassifier(*tiny(3), LABELS, multi_label=True), seed=3, scale=0.5)
    plain = multi.predict(sample)
    multi.temperature = [0.5, 2.0, 3.0]
    scaled = multi.predict(sample)
    np.testing.assert_array_equal(scaled["labels"], plain["labels"])  # threshold 0.5: z > 0
    np.testing.assert_allclose(scaled["probabilities"],
                               apply_temperature(plain["logits"], [0.5, 2.0, 3.0], True), atol=1e-6)


def test_calibrating_on_dev_lowers_its_log_loss_and_reports_before_and_after(tmp_path):
    model = classifier()
    sample = texts(300, 2)
    logits = model.predict(sample)["logits"]
    # Labels drawn at temperature 3: the model is over-confident by that much.
    labels = [LABELS[i] for i in sampled(logits, 3.0, 5)]
    dev = TextExamples(sample, None, labels, "dev.tsv", list(range(2, 302)))
    message = model.choose_on_dev(load_recipe(ROOT / "recipes" / "sentiment.toml").options, dev)
    fitted = re.match(r"calibration: temperature (\d+\.\d+), fitted on the dev set's 300 "
                      r"examples: ECE (\d\.\d+) -> (\d\.\d+), log loss (\d\.\d+) -> (\d\.\d+)",
                      message)
    assert fitted, message
    assert model.temperature == pytest.approx(float(fitted.group(1)), abs=1e-3)
    assert 2.0 < model.temperature < 4.5
    assert float(fitted.group(3)) < float(fitted.group(2))  # ECE
    assert float(fitted.group(5)) < float(fitted.group(4))  # log loss

    metrics, summary = evaluate_task(model, dev, tmp_path / "report")
    calibration = metrics["calibration"]
    assert calibration["temperature"] == model.temperature
    assert calibration["ece"] == pytest.approx(float(fitted.group(3)), abs=1e-4)
    assert calibration["uncalibrated"]["ece"] == pytest.approx(float(fitted.group(2)), abs=1e-4)
    assert "ECE before calibration" in summary and "Brier score" in summary
    png = (tmp_path / "report" / "reliability_diagram.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert len(saved["calibration"]["reliability"]) == 15


def test_a_dev_set_of_one_class_fits_nothing():
    model = classifier()
    dev = TextExamples(texts(20, 3), None, ["pos"] * 20, "dev.tsv", list(range(2, 22)))
    message = model.calibrate(dev)
    assert message.startswith("calibration: not fitted on dev.tsv: the examples have one "
                              "class only ('pos', 20 examples)")
    assert model.temperature == 1.0


def test_training_calibrates_on_dev_and_keeps_the_temperature(tmp_path, capsys):
    from tfbert.run_directory import RunDirectory
    from tfbert.train import train

    text = (ROOT / "recipes" / "data" / "sentiment" / "train.tsv").read_text().lower()
    words = sorted(set(re.findall(r"[a-z]+", text)))[:300]
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", words)
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=1", "training.batch_size=16", "data.max_train_examples=48",
        "training.baseline=false"])
    result = train(recipe)
    printed = capsys.readouterr().out
    assert re.search(r"calibration: temperature \d+\.\d+, fitted on the dev set's", printed), printed
    loaded = RunDirectory(tmp_path / "run").load_task()
    assert loaded.temperature == result["dev"]["calibration"]["temperature"] != 1.0

    off = load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'off'}", "export.enabled=false",
        "training.epochs=1", "training.batch_size=16", "data.max_train_examples=48",
        "training.baseline=false", "classification.calibrate=false", "data.test="])
    result = train(off)
    assert "calibration:" not in capsys.readouterr().out
    assert result["dev"]["calibration"]["temperature"] == 1.0
    assert "uncalibrated" not in result["dev"]["calibration"]
