"""Probabilities that mean what they say: temperature scaling, and how far off they were.

A fine-tuned classifier's softmax is usually over-confident: of the dev examples it
answers with probability 0.95, fewer than 95 % are right. Temperature scaling (Guo et
al. 2017, "On Calibration of Modern Neural Networks") divides the logits by one scalar
T > 0 before the softmax,

    p = softmax(z / T)                                   z: logits [n, C]

with T chosen on held-out examples (the dev set) to minimise their log loss. Dividing
by a positive scalar moves no argmax, so predictions and accuracy stay as they were; only
the confidence changes (T > 1 softens it, T < 1 sharpens it). A multi-label classifier's
labels are independent yes/no questions (sigmoid per label), so each label gets its own
temperature, fitted on its own column, where the dev set has at least MIN_PER_LABEL
examples with the label and as many without, and the model gets at least one of them
wrong. Otherwise the label takes the temperature fitted on every cell of every label
together: when every example of a column is on the right side of 0, the log loss only
falls as T -> 0 (ever more certain), a minimum that no test set bears out, and a rare
label would be fitted to a handful of examples. For the same reason a single-label
dev set answered right throughout fits nothing. sigmoid(z / T) > 0.5 exactly when
z > 0, so a 0.5 threshold picks the same labels.

How far off the probabilities are:
- ECE, the expected calibration error of Guo et al.: the examples fall into 15
  equal-width bins of confidence (single-label: the top probability; multi-label:
  every (example, label) cell's max(p, 1 - p)); ECE = sum over bins of
  (share of examples in the bin) * |accuracy in the bin - mean confidence in the bin|.
- Brier score: the mean over examples of sum over classes of (p - y)^2, y one-hot
  (multi-label: the mean over cells of (p - y)^2).
- Log loss: the mean negative log-probability of the truth (what the fit minimises).

No TensorFlow: numpy and scipy, whose bounded scalar minimiser finds log T.
"""

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

ECE_BINS = 15
# log T is searched in [-4, 4]: T from 0.018 to 55, far beyond what a fine-tuned
# model needs (Guo et al. report 1.1 to 3.5), and a bounded search never diverges.
LOG_TEMPERATURE_BOUNDS = (-4.0, 4.0)
# Multi-label: a label's own temperature needs this many dev examples with it and as
# many without; the others share one.
MIN_PER_LABEL = 20


class CalibrationError(ValueError):
    """The examples cannot say what the temperature should be (one class only)."""


def fit_temperature(logits, targets, multi_label=False, label_names=None):
    """The temperature that minimises the log loss of `targets` under softmax (or
    sigmoid) of `logits` / T: a float, or for multi-label a list with one per label.

    logits: float [n, C]; targets: int class ids [n] (multi-label: 0/1 [n, C]).
    Raises CalibrationError when every example has the same class or every one is
    answered right (single-label), or when no label has both values or no cell is
    answered wrong (multi-label): nothing to fit."""
    logits = np.asarray(logits, np.float64)
    targets = np.asarray(targets)
    if logits.ndim != 2 or len(logits) != len(targets):
        raise ValueError(f"logits of shape {logits.shape} do not fit {len(targets)} targets.")
    names = label_names or [str(i) for i in range(logits.shape[1])]
    if not multi_label:
        present = np.unique(targets)
        if len(present) < 2:
            only = names[int(present[0])] if len(present) else "none"
            raise CalibrationError(
                f"the examples have one class only ({only!r}, {len(targets)} examples): "
                "a temperature fitted on them would only make that class more certain.")
        if np.all(logits.argmax(axis=1) == targets):
            raise CalibrationError(
                f"the model answers all {len(targets)} examples right: the log loss falls "
                "without end as the temperature goes to 0, so there is no temperature to fit.")
        return float(np.exp(_minimise(lambda log_t: _softmax_log_loss(logits, targets, log_t))))
    targets = targets.astype(np.float64)
    if targets.min() == targets.max():
        raise CalibrationError(
            f"no label is both present and absent among the {len(targets)} examples: "
            "there is nothing to fit a temperature on.")
    wrong = (logits > 0) != (targets > 0.5)                                   # [n, C]
    if not wrong.any():
        raise CalibrationError(
            f"the model answers every label of all {len(targets)} examples right: the log "
            "loss falls without end as the temperature goes to 0, so there is none to fit.")
    shared = float(np.exp(_minimise(
        lambda log_t: _sigmoid_log_loss(logits.ravel(), targets.ravel(), log_t))))
    temperatures = []
    for j in range(logits.shape[1]):
        column, truth = logits[:, j], targets[:, j]
        if min(truth.sum(), len(truth) - truth.sum()) < MIN_PER_LABEL or not wrong[:, j].any():
            temperatures.append(shared)
        else:
            temperatures.append(float(np.exp(_minimise(
                lambda log_t: _sigmoid_log_loss(column, truth, log_t)))))
    return temperatures


def apply_temperature(logits, temperature, multi_label=False):
    """Probabilities of `logits` [n, C] at `temperature` (a float, or one per label)."""
    scaled = np.asarray(logits, np.float64) / np.asarray(temperature, np.float64)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-scaled))
    return softmax(scaled, axis=-1)


def calibration_metrics(probabilities, targets, multi_label=False, bins=ECE_BINS):
    """{"ece", "brier", "log_loss", "reliability": per bin its confidence range, count,
    mean confidence and accuracy} of probabilities [n, C] against targets (class ids
    [n]; multi-label 0/1 [n, C])."""
    probabilities = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1 - 1e-12)
    targets = np.asarray(targets)
    if multi_label:
        truth = targets.astype(bool)
        confidence = np.maximum(probabilities, 1 - probabilities).ravel()
        correct = ((probabilities > 0.5) == truth).ravel()
        brier = float(np.mean((probabilities - truth) ** 2))
        log_loss = float(-np.mean(np.where(truth, np.log(probabilities), np.log(1 - probabilities))))
    else:
        ids = targets.astype(np.int64)
        one_hot = np.eye(probabilities.shape[1])[ids]
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == ids
        brier = float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1)))
        log_loss = float(-np.mean(np.log(probabilities[np.arange(len(ids)), ids])))
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin b holds confidences in (edges[b], edges[b + 1]]; a confidence of 0 goes to bin 0.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        row = {"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
               "confidence": None, "accuracy": None}
        if count:
            row["confidence"] = float(confidence[members].mean())
            row["accuracy"] = float(correct[members].mean())
            ece += count / len(confidence) * abs(row["accuracy"] - row["confidence"])
        table.append(row)
    return {"ece": float(ece), "brier": brier, "log_loss": log_loss, "reliability": table}


def _minimise(loss):
    return minimize_scalar(loss, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded",
                           options={"xatol": 1e-5}).x


def _softmax_log_loss(logits, targets, log_t):
    log_p = log_softmax(logits / np.exp(log_t), axis=1)                   # [n, C]
    return -np.mean(log_p[np.arange(len(targets)), targets])


def _sigmoid_log_loss(column, truth, log_t):
    scaled = column / np.exp(log_t)                                        # [n]
    # -log sigmoid(x) = log(1 + e^-x); -log(1 - sigmoid(x)) = log(1 + e^x)
    return np.mean(truth * np.logaddexp(0, -scaled) + (1 - truth) * np.logaddexp(0, scaled))
