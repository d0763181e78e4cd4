"""Scores of predictions against gold labels, with scikit-learn and scipy.

    classification_metrics  one label per example, as ids into `label_names`
    multilabel_metrics      any number of labels per example, as multi-hot matrices
    out_of_scope_metrics    rejection of out-of-scope inputs (in-scope accuracy, recall)
    regression_metrics      one real-valued score per example (STS-B style)

Arrays in, dicts out: no model and no TensorFlow here (tasks call these from their
`score_outputs`; `tfbert.evaluate` runs a model over examples and writes the report).
The numbers mean what scikit-learn's documentation says. The dicts hold plain Python
numbers only, so they go to JSON as they are, and never hold NaN: where a number is
undefined it is None and a "warning" entry says why.
"""

import math

import numpy as np
from scipy import stats
from sklearn import metrics as skm

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
    result["never_predicted"] = _never_predicted(np.bincount(true_ids, minlength=len(labels)),
                                                 np.bincount(predicted_ids, minlength=len(labels)),
                                                 label_names)
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
    never = _never_predicted(np.asarray(true_matrix).sum(axis=0), np.asarray(predicted_matrix).sum(axis=0),
                             label_names)
    return {
        "never_predicted": never,
        "accuracy": float(skm.accuracy_score(true_matrix, predicted_matrix)),
        **_f1_averages(true_matrix, predicted_matrix, labels, ("micro", "macro", "weighted", "samples")),
        "per_class": _per_class(true_matrix, predicted_matrix, labels, label_names),
        "per_label_confusion": {name: matrix.tolist() for name, matrix in zip(label_names, confusions)},
        "label_names": label_names,
    }


def out_of_scope_metrics(true_out_of_scope, rejected, correct):
    """Rejection figures of a classifier that answers "out of scope" below a threshold.

    Boolean arrays, one entry per example: the gold label is out of scope; the model
    rejected it; its answer equals the gold label (a rejected out-of-scope example
    counts as correct). As the out-of-scope intent literature reports them (Larson et
    al., 2019, CLINC150): in-scope accuracy over in-scope examples (a rejection is
    wrong there), the share of in-scope examples rejected, and the recall and
    precision of the out-of-scope answer (None where undefined, with a warning).
    """
    true_out_of_scope = np.asarray(true_out_of_scope, bool)
    rejected = np.asarray(rejected, bool)
    correct = np.asarray(correct, bool)
    if not len(true_out_of_scope) == len(rejected) == len(correct):
        raise ValueError("out_of_scope_metrics: the three arrays differ in length "
                         f"({len(true_out_of_scope)}, {len(rejected)}, {len(correct)}).")
    in_scope = ~true_out_of_scope
    share = lambda values, where: float(values[where].mean()) if where.any() else None  # noqa: E731
    result = {
        "in_scope_examples": int(in_scope.sum()),
        "out_of_scope_examples": int(true_out_of_scope.sum()),
        "in_scope_accuracy": share(correct, in_scope),
        "in_scope_rejected": share(rejected, in_scope),
        "out_of_scope_recall": share(rejected, true_out_of_scope),
        "out_of_scope_precision": share(true_out_of_scope, rejected),
    }
    undefined = [key for key, value in result.items() if value is None]
    if undefined:
        reasons = [reason for reason, absent in (("no out-of-scope examples", not true_out_of_scope.any()),
                                                 ("no in-scope examples", not in_scope.any()),
                                                 ("nothing rejected", not rejected.any())) if absent]
        result["out_of_scope_warning"] = f"{', '.join(undefined)} undefined: {'; '.join(reasons)}"
    return result


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


def _never_predicted(true_counts, predicted_counts, label_names):
    """Labels with examples that the model never predicts: a class the model has given
    up on (often a small one under class imbalance), which averages hide."""
    return [name for name, truth, predicted in zip(label_names, true_counts, predicted_counts)
            if truth > 0 and predicted == 0]


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
