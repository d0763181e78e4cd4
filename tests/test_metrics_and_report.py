"""Metrics against hand-computed values, the report files, and bad inputs.

The expected numbers are worked out by hand from the small examples (the comments show
how), so these tests check what the metrics mean, not just that scikit-learn is called.
"""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from tfbert.evaluation import metrics as evaluation
from tfbert.evaluation import report

approx = pytest.approx

# --- Classification --------------------------------------------------------------------
# Rows are true labels, columns predicted:
#            cat dog bird
#   cat       2   1   0
#   dog       0   1   1
#   bird      1   0   2
ANIMALS = ["cat", "dog", "bird"]
ANIMALS_TRUE = [0, 0, 0, 1, 1, 2, 2, 2]
ANIMALS_PREDICTED = [0, 0, 1, 1, 2, 2, 2, 0]


def test_classification_by_hand():
    metrics = evaluation.classification_metrics(ANIMALS_TRUE, ANIMALS_PREDICTED, ANIMALS)
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    assert metrics["accuracy"] == approx(5 / 8)  # the diagonal, 2 + 1 + 2
    # cat: tp 2, fp 1, fn 1 -> P = R = F1 = 2/3; dog: tp 1, fp 1, fn 1 -> 1/2; bird as cat.
    assert metrics["per_class"] == {
        "cat": {"precision": approx(2 / 3), "recall": approx(2 / 3), "f1": approx(2 / 3), "support": 3},
        "dog": {"precision": approx(1 / 2), "recall": approx(1 / 2), "f1": approx(1 / 2), "support": 2},
        "bird": {"precision": approx(2 / 3), "recall": approx(2 / 3), "f1": approx(2 / 3), "support": 3},
    }
    assert metrics["macro_f1"] == approx((2 / 3 + 1 / 2 + 2 / 3) / 3)  # 11/18
    assert metrics["weighted_f1"] == approx((3 * 2 / 3 + 2 * 1 / 2 + 3 * 2 / 3) / 8)  # 5/8
    assert metrics["micro_f1"] == approx(5 / 8)  # single-label: micro F1 is accuracy
    assert metrics["label_names"] == ANIMALS
    assert "f1" not in metrics  # only binary tasks have a positive class


def test_binary_f1_is_that_of_label_1():
    # Label "1": tp 2, fp 2, fn 1 -> F1 = 2tp / (2tp + fp + fn) = 4/7. Label "0": tp 0 -> 0.
    metrics = evaluation.classification_metrics([1, 1, 1, 0, 0], [1, 1, 0, 1, 1], ["0", "1"])
    assert metrics["f1"] == approx(4 / 7)
    assert metrics["per_class"]["1"]["precision"] == approx(1 / 2)
    assert metrics["per_class"]["1"]["recall"] == approx(2 / 3)
    assert metrics["per_class"]["0"]["f1"] == 0
    assert metrics["macro_f1"] == approx(2 / 7)
    assert metrics["accuracy"] == approx(2 / 5)


def test_label_absent_from_truth_and_predictions_still_counts():
    metrics = evaluation.classification_metrics(np.array([0, 1]), np.array([0, 1]), ["a", "b", "c"])
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert metrics["per_class"]["c"] == {"precision": 0, "recall": 0, "f1": 0, "support": 0}
    assert metrics["macro_f1"] == approx(2 / 3)  # (1 + 1 + 0) / 3
    assert metrics["accuracy"] == 1


def test_classification_metrics_are_plain_python():
    ids = np.array([0, 1, 1], dtype=np.int32)
    metrics = evaluation.classification_metrics(ids, ids, ("no", "yes"))
    json.dumps(metrics, allow_nan=False)  # numpy scalars would make this raise
    assert type(metrics["confusion_matrix"][0][0]) is int


@pytest.mark.parametrize("true_ids, predicted_ids, message", [
    ([0, 1, 2], [0, 1], "true_ids has 3 examples but predicted_ids has 2"),
    ([0, 1, 2], [0, 5, 1], "predicted_ids holds label id 5"),
    ([0, -1, 2], [0, 1, 2], "true_ids holds label id -1"),
    ([], [], "no examples to evaluate"),
    ([0.5, 1], [0, 1], "integer label ids"),
])
def test_classification_rejects(true_ids, predicted_ids, message):
    with pytest.raises(ValueError, match=message):
        evaluation.classification_metrics(true_ids, predicted_ids, ANIMALS)


def test_repeated_label_names_are_rejected():
    with pytest.raises(ValueError, match="repeats"):
        evaluation.classification_metrics([0], [0], ["a", "a"])


# --- Multi-label -------------------------------------------------------------------------
TAGS = ["x", "y", "z"]
TAGS_TRUE = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]
TAGS_PREDICTED = [[1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_multilabel_by_hand():
    metrics = evaluation.multilabel_metrics(np.array(TAGS_TRUE, bool), TAGS_PREDICTED, TAGS)
    assert metrics["accuracy"] == approx(1 / 4)  # only the first row matches entirely
    # x: tp 2, tn 2. y: tp 1, fn 1, tn 2. z: tp 1, fp 1, fn 1, tn 1.
    assert metrics["per_label_confusion"] == {"x": [[2, 0], [0, 2]], "y": [[2, 0], [1, 1]],
                                              "z": [[1, 1], [1, 1]]}
    assert [metrics["per_class"][tag]["f1"] for tag in TAGS] == approx([1, 2 / 3, 1 / 2])
    assert [metrics["per_class"][tag]["support"] for tag in TAGS] == [2, 2, 2]
    assert metrics["macro_f1"] == approx((1 + 2 / 3 + 1 / 2) / 3)
    assert metrics["micro_f1"] == approx(8 / 11)  # tp 4, fp 1, fn 2 summed over labels
    # Per example F1: 1, 2/3 ({y} vs {y, z}), 2/3 ({x, y} vs {x}), 0 ({z} vs {}).
    assert metrics["samples_f1"] == approx((1 + 2 / 3 + 2 / 3 + 0) / 4)
    json.dumps(metrics, allow_nan=False)


@pytest.mark.parametrize("predicted, message", [
    (TAGS_PREDICTED[:3], "true_matrix has 4 examples but predicted_matrix has 3"),
    ([row[:2] for row in TAGS_PREDICTED], "predicted_matrix has 2 columns but there are 3 label names"),
    ([[2, 0, 0]] * 4, "only 0/1"),
])
def test_multilabel_rejects(predicted, message):
    with pytest.raises(ValueError, match=message):
        evaluation.multilabel_metrics(TAGS_TRUE, predicted, TAGS)


def test_multilabel_rejects_empty_input():
    with pytest.raises(ValueError, match="no examples to evaluate"):
        evaluation.multilabel_metrics(np.zeros((0, 3)), np.zeros((0, 3)), TAGS)


# --- Regression --------------------------------------------------------------------------

def test_regression_by_hand():
    # Deviations from the means (2.5 and 4): true -1.5 -0.5 0.5 1.5, predicted -3 -2 -1 6.
    # Pearson = 14 / sqrt(5 * 50). The ranks agree exactly, so Spearman = 1.
    metrics = evaluation.regression_metrics([1, 2, 3, 4], np.array([1, 2, 3, 10], np.float32))
    assert metrics["pearson"] == approx(14 / np.sqrt(250))
    assert metrics["pearson_x100"] == approx(1400 / np.sqrt(250))
    assert metrics["spearman"] == approx(1)
    assert metrics["spearman_x100"] == approx(100)
    assert metrics["mse"] == approx(36 / 4)  # errors 0 0 0 6
    assert metrics["mae"] == approx(6 / 4)
    assert metrics["n"] == 4
    assert "warning" not in metrics


def test_constant_predictions_give_no_correlation_and_a_warning():
    metrics = evaluation.regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert metrics["pearson"] is None and metrics["spearman"] is None
    assert metrics["pearson_x100"] is None and metrics["spearman_x100"] is None
    assert metrics["warning"].startswith("all predicted scores are 2: ")
    assert metrics["mse"] == approx(2 / 3)  # errors 1 0 -1
    json.dumps(metrics, allow_nan=False)


def test_single_example_gives_no_correlation():
    metrics = evaluation.regression_metrics([1.0], [1.5])
    assert metrics["pearson"] is None and "single example" in metrics["warning"]
    assert metrics["mae"] == approx(0.5)


@pytest.mark.parametrize("true_scores, predicted_scores, message", [
    ([1, 2, 3], [1, 2], "true_scores has 3 examples but predicted_scores has 2"),
    ([], [], "no examples to evaluate"),
    ([1, 2], [1, float("nan")], "predicted_scores holds NaN"),
])
def test_regression_rejects(true_scores, predicted_scores, message):
    with pytest.raises(ValueError, match=message):
        evaluation.regression_metrics(true_scores, predicted_scores)


# --- Report files --------------------------------------------------------------------------

def png_size(path):
    """(width, height) from a PNG's header; fails unless the file starts like a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_classification_report_files(tmp_path):
    metrics = evaluation.classification_metrics(ANIMALS_TRUE, ANIMALS_PREDICTED, ANIMALS)
    metrics["examples"] = np.int64(8)  # as callers add entries, numpy types included
    predictions = [{"line": i + 2, "text": f"example {i} – ünïcode", "label": ANIMALS[t],
                    "predicted": ANIMALS[p], "probabilities": {"cat": np.float32(0.25)},
                    "correct": bool(t == p)}
                   for i, (t, p) in enumerate(zip(ANIMALS_TRUE, ANIMALS_PREDICTED))]
    output_dir = tmp_path / "not" / "yet" / "there"

    paths = report.write_report(output_dir, metrics, predictions)

    assert set(paths) == {"metrics", "predictions", "confusion_matrix_json", "confusion_matrix_png"}
    assert all(path.parent == output_dir and path.is_file() for path in paths.values())
    text = (output_dir / "metrics.json").read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(json.dumps(metrics, default=int))
    assert '\n  "accuracy": 0.625,\n' in text  # indented by 2
    assert "\n    [2, 1, 0],\n" in text  # a matrix row on one line
    lines = (output_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(json.dumps(predictions, default=float))
    confusion = json.loads((output_dir / "confusion_matrix.json").read_text(encoding="utf-8"))
    assert confusion["label_names"] == ANIMALS
    assert confusion["matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    width, height = png_size(output_dir / "confusion_matrix.png")
    assert width >= 400 and height >= 400
    assert (output_dir / "confusion_matrix.png").stat().st_size > 5_000  # not an empty image


def test_metrics_json_is_nan_free(tmp_path):
    metrics = {"pearson": float("nan"), "scores": np.array([1.0, np.inf])}
    report.write_report(tmp_path, metrics, [])
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text) == {"pearson": None, "scores": [1.0, None]}
    assert "NaN" not in text and "Infinity" not in text


def test_many_labels_plot_without_cell_text(tmp_path):
    names = [f"intent {i}" for i in range(report.MAX_LABELS_WITH_CELL_TEXT + 1)]
    ids = np.arange(len(names)).repeat(3)
    metrics = evaluation.classification_metrics(ids, np.roll(ids, 1), names)
    paths = report.write_report(tmp_path, metrics, [])
    width, height = png_size(paths["confusion_matrix_png"])
    assert width > 1000 and height > 1000  # grows with the number of labels


def test_long_label_names_are_cut_in_the_middle():
    # Names often differ only at the end (intent_..._cancel, intent_..._change).
    names = ["booking_request_for_a_flight_cancel", "positive"]
    metrics = evaluation.classification_metrics([0, 1], [0, 1], names)
    table = report.format_summary([], metrics)
    assert "booking_req…light_cancel " in table  # 24 characters: the start and the end
    assert "booking_request_for_a_flight_cancel" not in table
    assert "\n  positive " in table


def test_regression_and_multilabel_reports_have_no_confusion_matrix(tmp_path):
    regression = evaluation.regression_metrics([1, 2, 3], [2, 2, 2])
    assert set(report.write_report(tmp_path / "r", regression, [])) == {
        "metrics", "predictions"}
    json.loads((tmp_path / "r" / "metrics.json").read_text())
    multilabel = evaluation.multilabel_metrics(TAGS_TRUE, TAGS_PREDICTED, TAGS)
    assert set(report.write_report(tmp_path / "m", multilabel, [])) == {
        "metrics", "predictions"}
    assert (tmp_path / "m" / "predictions.jsonl").read_text() == ""


def test_label_names_that_do_not_fit_the_matrix_are_rejected_before_writing(tmp_path):
    metrics = evaluation.classification_metrics(ANIMALS_TRUE, ANIMALS_PREDICTED, ANIMALS)
    metrics["label_names"] = ["a", "b"]
    with pytest.raises(ValueError, match=r"shape \(3, 3\) does not fit 2 label names"):
        report.write_report(tmp_path / "out", metrics, [])
    assert not (tmp_path / "out").exists()


# --- Terminal summary ------------------------------------------------------------------------

def test_summary_lines_up():
    metrics = evaluation.classification_metrics([1, 1, 1, 0, 0], [1, 1, 0, 1, 1], ["neg", "pos"])
    metrics["examples"] = 5
    text = report.format_summary([("accuracy", metrics["accuracy"]),
                                  ("F1 of 'positive'", metrics["f1"])], metrics)
    lines = text.splitlines()
    assert lines[0] == "  accuracy          0.4000"
    assert lines[1] == "  F1 of 'positive'  0.5714"  # 4/7, a space before it however long the name
    assert lines[2] == "  examples          5"
    table = text[text.index("precision"):]
    assert "neg" in table and "pos" in table


def test_summary_of_an_undefined_correlation():
    metrics = evaluation.regression_metrics([1, 2, 3], [2, 2, 2])
    text = report.format_summary([("Pearson", metrics["pearson"]), ("MSE", metrics["mse"])], metrics)
    assert "Pearson       n/a" in text and "warning:" in text and "MSE           0.6667" in text


def test_metrics_and_report_load_without_tensorflow():
    """`import tfbert` imports no TensorFlow, nor do the metrics, the report, the task
    registry or the command line's parser: `tfbert --help` answers at once."""
    script = ("import sys, tfbert, tfbert.evaluation.metrics, tfbert.evaluation.report, tfbert.tasks.registry, tfbert.models.config\n"
              "from tfbert import cli\n"
              "cli.build_parser()\n"
              "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    helped = subprocess.run([sys.executable, "-m", "tfbert.cli", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert helped.returncode == 0 and "train" in helped.stdout
