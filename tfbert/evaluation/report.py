"""The files and the terminal summary of an evaluation.

    metrics.json           the metrics, indented
    predictions.jsonl      one JSON object per example (file line, text, truth, prediction)
    confusion_matrix.json  when the metrics hold a confusion matrix: label names and matrix
    confusion_matrix.png   the same matrix drawn, counts in the cells
    reliability_diagram.png  when the metrics hold a calibration table: accuracy against
                           confidence per bin, before and after the temperature

Which files are written follows from the metrics themselves (a confusion matrix is
drawn when there is one), not from the kind of task. No TensorFlow here; matplotlib
is imported only to draw.
"""

import json
import math
import pathlib
import warnings

import numpy as np

# Beyond this many labels the cells are too small for their counts to be read.
MAX_LABELS_WITH_CELL_TEXT = 30
# Beyond this many labels even the tick labels overlap; the JSON file has the names.
MAX_LABELS_WITH_TICK_LABELS = 100


def write_report(output_dir, metrics, predictions):
    """Writes the files of an evaluation into `output_dir` (made if missing).

    metrics: a dict of plain values; with "confusion_matrix" and "label_names" (as
    `tfbert.evaluation.metrics.classification_metrics` makes them) the matrix is written too.
    predictions: one dict per example, written as given.
    Returns {"metrics", "predictions"[, "confusion_matrix_json", "confusion_matrix_png"]}
    -> pathlib.Path of each file written.
    """
    matrix = None
    if "confusion_matrix" in metrics:
        # Checked before anything is written: no half-written report.
        names = [str(name) for name in metrics.get("label_names", [])]
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

    if matrix is not None:
        paths["confusion_matrix_json"] = output_dir / "confusion_matrix.json"
        paths["confusion_matrix_json"].write_text(_to_json(
            {"label_names": names, "rows": "true label", "columns": "predicted label",
             "matrix": matrix}, indent=2) + "\n", encoding="utf-8")
        paths["confusion_matrix_png"] = output_dir / "confusion_matrix.png"
        plot_confusion_matrix(matrix, names, paths["confusion_matrix_png"])
    if isinstance(metrics.get("calibration"), dict) and "reliability" in metrics["calibration"]:
        paths["reliability_diagram_png"] = output_dir / "reliability_diagram.png"
        plot_reliability_diagram(metrics["calibration"], paths["reliability_diagram_png"])
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


def plot_reliability_diagram(calibration, path):
    """Accuracy against mean confidence in each confidence bin (a perfectly calibrated
    model lies on the diagonal), at the model's temperature and, when it was fitted, at
    1 (the logits as trained); the share of examples per bin below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 7.5))
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    curves = [("calibrated" if "uncalibrated" in calibration else "model", calibration, "tab:blue")]
    if "uncalibrated" in calibration:
        curves.insert(0, ("as trained (temperature 1)", calibration["uncalibrated"], "tab:orange"))
    for name, figures, colour in curves:
        bins = [row for row in figures["reliability"] if row["count"]]
        top.plot([row["confidence"] for row in bins], [row["accuracy"] for row in bins],
                 marker="o", color=colour, label=f"{name}: ECE {figures['ece']:.4f}")
    table = calibration["reliability"]
    total = max(sum(row["count"] for row in table), 1)
    bottom.bar([(row["low"] + row["high"]) / 2 for row in table],
               [row["count"] / total for row in table], width=table[0]["high"] - table[0]["low"],
               color="tab:blue", edgecolor="white")
    temperature = calibration.get("temperature", 1.0)
    shown = (f"{temperature:.3f}" if not isinstance(temperature, list)
             else f"{min(temperature):.2f} to {max(temperature):.2f}, one per label")
    top.set_title(f"Reliability ({len(table)} bins), temperature {shown}", fontsize=12)
    top.set_ylabel("accuracy in the bin")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.legend(loc="upper left", fontsize=9)
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("share of examples")
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight", pad_inches=0.2)


def _shorten(name, width=24):
    """`name` cut to `width` characters in the middle: names often share a prefix."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


# --- Terminal summary ----------------------------------------------------------------------

def format_summary(summary, metrics):
    """A few lines for the terminal: `summary`'s (name, value) rows (the task's main
    numbers), the example counts, any warning, and per label a table of scores."""
    rows = list(summary)
    for key in ("n", "examples", "skipped"):
        if key in metrics and not (key == "skipped" and not metrics[key]):
            rows.append((key, metrics[key]))
    width = max([len(name) for name, _ in rows] + [12]) + 2
    lines = [f"  {name:<{width}}{_number(value)}" for name, value in rows]
    if metrics.get("warning"):
        lines.append(f"  warning: {metrics['warning']}")
    never = metrics.get("never_predicted")
    if never:
        shown = ", ".join(repr(name) for name in never[:10]) + (" ..." if len(never) > 10 else "")
        lines.append(f"  warning: {len(never)} label(s) with examples never predicted: {shown}"
                     f" (class imbalance? try classification.class_weight = \"balanced\")")
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
