"""Scores of predictions against gold labels, and the report files of an evaluation.

Three kinds of task, each with its own metrics function:
  classification  one label per example, given as ids into `label_names`
  multilabel      any number of labels per example, given as multi-hot matrices
  regression      one real-valued score per example (STS-B style)

All numbers come from scikit-learn and scipy, so they mean what those libraries'
documentation says. The dicts returned hold plain Python numbers only, so they go to
JSON as they are, and never hold NaN: where a number is undefined it is None and a
"warning" entry says why.

This module needs no TensorFlow; matplotlib is imported only to draw the confusion
matrix.
"""

import json
import math
import pathlib
import warnings

import numpy as np
from scipy import stats
from sklearn import metrics as skm

TASKS = ("classification", "multilabel", "regression")

# Beyond this many labels the cells are too small for their counts to be read.
MAX_LABELS_WITH_CELL_TEXT = 30
# Beyond this many labels even the tick labels overlap; the JSON file has the names.
MAX_LABELS_WITH_TICK_LABELS = 100


# --- Metrics -------------------------------------------------------------------------

def classification_metrics(true_ids, predicted_ids, label_names):
    """Scores of single-label predictions; ids index `label_names`.

    Every label counts, also one absent from both `true_ids` and `predicted_ids`: its
    precision, recall and F1 are 0 (zero_division=0), so the macro averages and the
    confusion matrix always cover all of `label_names`. For two labels, "f1" is the
    F1 of the label with id 1, the number GLUE reports for MRPC and QQP.
    """
    label_names = _label_names(label_names)
    true_ids = _ids(true_ids, "true_ids", label_names)
    predicted_ids = _ids(predicted_ids, "predicted_ids", label_names)
    _same_length(true_ids, "true_ids", predicted_ids, "predicted_ids")
    labels = list(range(len(label_names)))

    result = {
        "accuracy": float(skm.accuracy_score(true_ids, predicted_ids)),
        **_f1_averages(true_ids, predicted_ids, labels, ("macro", "micro", "weighted")),
        "per_class": _per_class(true_ids, predicted_ids, labels, label_names),
        "confusion_matrix": skm.confusion_matrix(true_ids, predicted_ids, labels=labels).tolist(),
        "label_names": label_names,
    }
    if len(label_names) == 2:
        result["f1"] = result["per_class"][label_names[1]]["f1"]
    return result


def multilabel_metrics(true_matrix, predicted_matrix, label_names):
    """Scores of multi-label predictions: (examples, labels) 0/1 or boolean matrices.

    "accuracy" is exact match (subset accuracy): an example counts as right only when
    its whole set of labels is. "per_label_confusion" maps each label name to its own
    2x2 matrix [[tn, fp], [fn, tp]].
    """
    label_names = _label_names(label_names)
    true_matrix = _multi_hot(true_matrix, "true_matrix", label_names)
    predicted_matrix = _multi_hot(predicted_matrix, "predicted_matrix", label_names)
    _same_length(true_matrix, "true_matrix", predicted_matrix, "predicted_matrix")
    labels = list(range(len(label_names)))

    confusions = skm.multilabel_confusion_matrix(true_matrix, predicted_matrix, labels=labels)
    return {
        "accuracy": float(skm.accuracy_score(true_matrix, predicted_matrix)),
        **_f1_averages(true_matrix, predicted_matrix, labels, ("micro", "macro", "weighted", "samples")),
        "per_class": _per_class(true_matrix, predicted_matrix, labels, label_names),
        "per_label_confusion": {name: matrix.tolist() for name, matrix in zip(label_names, confusions)},
        "label_names": label_names,
    }


def regression_metrics(true_scores, predicted_scores):
    """Pearson and Spearman correlation (also x100, as GLUE reports STS-B), MSE, MAE.

    A correlation is undefined when either side is constant (a collapsed model predicts
    one score for everything) or there is a single example; it is then None, and
    "warning" says why, rather than NaN that no JSON reader accepts.
    """
    true_scores = _scores(true_scores, "true_scores")
    predicted_scores = _scores(predicted_scores, "predicted_scores")
    _same_length(true_scores, "true_scores", predicted_scores, "predicted_scores")

    result = {}
    problem = _correlation_problem(true_scores, predicted_scores)
    if problem:
        pearson = spearman = None
        result["warning"] = f"{problem}: Pearson and Spearman correlations are undefined"
    else:
        pearson = _finite_or_none(stats.pearsonr(true_scores, predicted_scores)[0])
        spearman = _finite_or_none(stats.spearmanr(true_scores, predicted_scores)[0])
    errors = predicted_scores - true_scores
    result.update({
        "pearson": pearson,
        "spearman": spearman,
        "pearson_x100": None if pearson is None else 100 * pearson,
        "spearman_x100": None if spearman is None else 100 * spearman,
        "mse": float(np.mean(errors**2)),
        "mae": float(np.mean(np.abs(errors))),
        "n": len(true_scores),
    })
    return result


def _f1_averages(truth, predicted, labels, averages):
    return {f"{average}_f1": float(skm.f1_score(truth, predicted, labels=labels, average=average,
                                                 zero_division=0))
            for average in averages}


def _per_class(truth, predicted, labels, label_names):
    """{name: {precision, recall, f1, support}} for every label, in label order."""
    report = skm.classification_report(truth, predicted, labels=labels, target_names=label_names,
                                       output_dict=True, zero_division=0)
    return {name: {"precision": float(report[name]["precision"]),
                   "recall": float(report[name]["recall"]),
                   "f1": float(report[name]["f1-score"]),
                   "support": int(report[name]["support"])}
            for name in label_names}


def _correlation_problem(true_scores, predicted_scores):
    """Why no correlation can be computed, or None."""
    if len(true_scores) < 2:
        return "a single example"
    if np.ptp(predicted_scores) == 0:
        return f"all predicted scores are {predicted_scores[0]:g}"
    if np.ptp(true_scores) == 0:
        return f"all true scores are {true_scores[0]:g}"
    return None


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


# --- Input checks ----------------------------------------------------------------------
# Caught here, a mistake names the argument at fault; left to scikit-learn, it surfaces
# as a message about y_true and y_pred, or not at all (an id past the last label name
# is silently dropped from the confusion matrix).

def _label_names(label_names):
    names = [str(name) for name in label_names]
    if not names:
        raise ValueError("label_names is empty")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        # Per-class results are keyed by name; a repeated name would hide a label.
        raise ValueError(f"label_names repeats {duplicates}")
    return names


def _ids(values, argument, label_names):
    ids = np.asarray(values)
    if ids.ndim != 1:
        raise ValueError(f"{argument} must be one id per example (1-D), got shape {ids.shape}")
    if ids.size == 0:
        raise ValueError("no examples to evaluate")
    if ids.dtype.kind not in "iub":
        if ids.dtype.kind != "f" or not np.all(np.mod(ids, 1) == 0):
            raise ValueError(f"{argument} must hold integer label ids, got {ids.dtype} values "
                             f"such as {ids[0]!r}")
    ids = ids.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= len(label_names))]
    if bad.size:
        raise ValueError(f"{argument} holds label id {bad[0]}, but there are {len(label_names)} "
                         f"label names (valid ids are 0 to {len(label_names) - 1})")
    return ids


def _multi_hot(values, argument, label_names):
    matrix = np.asarray(values)
    if matrix.ndim != 2:
        raise ValueError(f"{argument} must be an (examples, labels) matrix, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError("no examples to evaluate")
    if matrix.shape[1] != len(label_names):
        raise ValueError(f"{argument} has {matrix.shape[1]} columns but there are "
                         f"{len(label_names)} label names")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{argument} must hold only 0/1 or True/False")
    return matrix.astype(np.int64)


def _scores(values, argument):
    scores = np.asarray(values, dtype=np.float64)
    # A regression head's raw output is (examples, 1); accept it as it is.
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise ValueError(f"{argument} must be one score per example (1-D), got shape {scores.shape}")
    if scores.size == 0:
        raise ValueError("no examples to evaluate")
    if not np.isfinite(scores).all():
        raise ValueError(f"{argument} holds NaN or infinite values (a diverged model?)")
    return scores


def _same_length(first, first_name, second, second_name):
    if len(first) != len(second):
        raise ValueError(f"{first_name} has {len(first)} examples but {second_name} has {len(second)}")


# --- Report files ------------------------------------------------------------------------

def write_report(output_dir, metrics, predictions, task, label_names=None):
    """Writes the files of an evaluation into `output_dir` (made if missing).

      metrics.json           `metrics`, indented
      predictions.jsonl      one JSON object per line: the dicts of `predictions` as given
      confusion_matrix.json  classification only: label names and the matrix
      confusion_matrix.png   classification only: the matrix drawn, counts in the cells

    Returns {"metrics", "predictions"[, "confusion_matrix_json", "confusion_matrix_png"]}
    -> pathlib.Path of each file written.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "classification":
        # Checked before anything is written: no half-written report.
        if "confusion_matrix" not in metrics:
            raise ValueError("classification metrics have no confusion_matrix; "
                             "make them with classification_metrics")
        names = [str(name) for name in
                 (label_names if label_names is not None else metrics["label_names"])]
        matrix = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
        if matrix.shape != (len(names), len(names)):
            raise ValueError(f"confusion matrix of shape {matrix.shape} does not fit "
                             f"{len(names)} label names")
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    paths = {"metrics": output_dir / "metrics.json", "predictions": output_dir / "predictions.jsonl"}
    paths["metrics"].write_text(_to_json(metrics, indent=2) + "\n", encoding="utf-8")
    with open(paths["predictions"], "w", encoding="utf-8") as file:
        for row in predictions:
            file.write(_to_json(row) + "\n")

    if task == "classification":
        paths["confusion_matrix_json"] = output_dir / "confusion_matrix.json"
        paths["confusion_matrix_json"].write_text(_to_json(
            {"label_names": names, "rows": "true label", "columns": "predicted label",
             "matrix": matrix}, indent=2) + "\n", encoding="utf-8")
        paths["confusion_matrix_png"] = output_dir / "confusion_matrix.png"
        plot_confusion_matrix(matrix, names, paths["confusion_matrix_png"])
    return paths


def _to_json(value, indent=None):
    """JSON text of `value`; with `indent`, as json.dumps would indent it, except that
    a list of numbers (a confusion matrix row) stays on one line, so that a matrix of
    30 labels takes 30 lines, not 900."""
    value = _plain(value)
    if indent is None:
        # ensure_ascii=False keeps non-English example texts readable in the files.
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    return _indented(value, " " * indent, "")


def _indented(value, step, margin):
    inner = margin + step
    if isinstance(value, dict) and value:
        items = [f"{inner}{_to_json(str(key))}: {_indented(item, step, inner)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + margin + "}"
    numbers = isinstance(value, list) and all(
        item is None or isinstance(item, (int, float)) for item in value)
    if isinstance(value, list) and value and not numbers:
        items = [inner + _indented(item, step, inner) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + margin + "]"
    return _to_json(value)


def _plain(value):
    """`value` with numpy types made Python ones, and NaN or infinity made None.

    Callers add their own entries (numpy ids, float32 probabilities) to what they
    write; JSON takes neither numpy scalars nor, strictly, NaN.
    """
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def plot_confusion_matrix(matrix, label_names, path):
    """Draws `matrix` (rows: true label, columns: predicted label) as a PNG at `path`.

    The colour of a cell is its share of its row (on the diagonal: the recall of the
    label), so rare labels show as clearly as common ones; the cell text is the count.
    """
    # The Agg canvas directly, not pyplot: no global backend switch, no GUI, and safe
    # in a process that plots elsewhere.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    n = len(label_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))

    side = float(np.clip(2.5 + 0.45 * n, 5, 18))  # inches: about 0.45 per label
    figure = Figure(figsize=(side + 1.5, side))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true label's examples")

    tick_size = float(np.clip(300 / n, 5, 11))
    if n <= MAX_LABELS_WITH_TICK_LABELS:
        names = [_shorten(str(name)) for name in label_names]
        # Upright names collide once there are more than a few, or they are long.
        slanted = n > 2 or max(map(len, names)) > 10
        axes.set_xticks(range(n), names, fontsize=tick_size, rotation=45 if slanted else 0,
                        ha="right" if slanted else "center", rotation_mode="anchor")
        axes.set_yticks(range(n), names, fontsize=tick_size)
        axes.set_xlabel("Predicted label", fontsize=12)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_xlabel(f"Predicted label ({n} labels, in the order of confusion_matrix.json)",
                        fontsize=12)
    axes.set_ylabel("True label", fontsize=12)
    total, right = int(matrix.sum()), int(np.trace(matrix))
    axes.set_title(f"Confusion matrix: {total} examples, {right} correct "
                   f"({right / max(total, 1):.1%})", fontsize=12)

    if n <= MAX_LABELS_WITH_CELL_TEXT:
        cell_size = float(np.clip(270 / n, 7, 14))
        for row in range(n):
            for column in range(n):
                # White text on the dark cells, black on the light ones.
                colour = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, str(matrix[row, column]), ha="center", va="center",
                          color=colour, fontsize=cell_size)
    with warnings.catch_warnings():
        # Glyphs missing from the default font (some scripts) only warn; the box shows.
        warnings.simplefilter("ignore", UserWarning)
        # "tight" grows or crops the image to hold every text, however long the label
        # names (matplotlib's constrained layout left the y title outside, and is slower).
        figure.savefig(path, format="png", dpi=100, bbox_inches="tight", pad_inches=0.2)


def _shorten(name, width=24):
    """`name` cut to `width` characters in the middle: names often share a prefix."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


# --- Terminal summary ----------------------------------------------------------------------

def format_metrics(metrics, task):
    """A few lines for the terminal: the main numbers, and per label a table of scores."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "regression":
        rows = [("Pearson", metrics.get("pearson")), ("Spearman", metrics.get("spearman")),
                ("MSE", metrics.get("mse")), ("MAE", metrics.get("mae"))]
    else:
        rows = [("exact match" if task == "multilabel" else "accuracy", metrics.get("accuracy"))]
        if "f1" in metrics:
            rows.append((f"F1 of {metrics['label_names'][1]!r}", metrics["f1"]))
        for average in ("macro", "micro", "weighted", "samples"):
            if f"{average}_f1" in metrics:
                rows.append((f"{average} F1", metrics[f"{average}_f1"]))
    for key in ("n", "examples", "skipped"):
        if key in metrics and not (key == "skipped" and not metrics[key]):
            rows.append((key, metrics[key]))

    lines = [f"  {name:<14}{_number(value)}" for name, value in rows]
    if metrics.get("warning"):
        lines.append(f"  warning: {metrics['warning']}")
    if metrics.get("per_class"):
        lines.append("")
        lines.extend(_per_class_table(metrics["per_class"]))
    return "\n".join(lines)


def _per_class_table(per_class):
    width = max(5, *(len(_shorten(name)) for name in per_class))
    lines = [f"  {'label':<{width}}  precision  recall      f1  support"]
    for name, scores in per_class.items():
        lines.append(f"  {_shorten(name):<{width}}  {scores['precision']:9.4f}  {scores['recall']:6.4f}"
                     f"  {scores['f1']:6.4f}  {scores['support']:7d}")
    return lines


def _number(value):
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.4f}"
