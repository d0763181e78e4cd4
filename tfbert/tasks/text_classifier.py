"""Text classification: one text or a text pair -> one label (softmax) or several (sigmoid).

Recipe: `task = "classification"`, with a [classification] table (ClassificationSection).
Served outputs (`serving_default`, and in-process `predict`, from one `postprocess`):

    label          string  [B]     the most likely label
    label_id       int32   [B]     its index into the label names
    probabilities  float32 [B, C]  softmax of logits / temperature (multi-label: sigmoid
                                   of each label's logit / its temperature)
    logits         float32 [B, C]  the model's own, before the temperature
  with rejection (reject_below, single-label only):
    rejected       bool    [B]     the top probability is under reject_below: `label` is
                                   reject_label and `label_id` its index, or -1 when it
                                   is not one of the trained labels
  multi-label only:
    labels         string  [B, C]  label j's name where it is predicted, else "": every
                                   label over the threshold, or the best one if none is
    over_threshold bool    [B, C]
"""

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.labels import LabelVocabulary
from tfbert.tasks.answers import ClassificationAnswers
from tfbert.tasks.pooled_task import PooledTask
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import ClassificationSection

LABELS_FILE = ClassificationAnswers.LABELS_FILE


class ClassificationPreprocessor(Preprocessor):
    """Labels (names, ids, or lists of names) -> int32 ids [n] or multi-hot [n, C]."""

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        self.label_names = list(config["label_names"])
        self.multi_label = bool(config["multi_label"])
        self.label_separator = config["label_separator"]
        self.reject_label = config["reject_label"]
        self.label_vocabulary = LabelVocabulary(self.label_names, multi_label=self.multi_label,
                                                separator=self.label_separator)

    def raw_labels(self, labels):
        """Label names, ids, or (multi-label) lists of names -> raw label strings."""
        raw = []
        for label in labels:
            if isinstance(label, (int, np.integer)) and 0 <= label < len(self.label_names):
                label = self.label_names[label]
            elif self.multi_label and isinstance(label, (list, tuple)):
                label = self.label_separator.join(map(str, label))
            raw.append(str(label))
        return raw

    def encode_targets(self, examples, on_unknown="error"):
        """int32 ids [n], or multi-hot float32 [n, labels]; an unknown label is an error
        naming its file and line (or, with on_unknown="skip", left out and counted).
        With a reject_label that is not a trained label, its examples get id -1."""
        out_of_scope = []
        if (self.reject_label and self.reject_label not in self.label_names
                and examples.labels is not None):
            out_of_scope = [i for i, label in enumerate(examples.labels) if label == self.reject_label]
        if not out_of_scope:
            targets, kept, skipped = self.label_vocabulary.encode(examples, on_unknown=on_unknown)
            return targets, np.asarray(kept, np.int64), skipped
        excluded = set(out_of_scope)
        in_scope = np.array([i for i in range(len(examples)) if i not in excluded], np.int64)
        targets, kept, skipped = self.label_vocabulary.encode(examples.select(in_scope),
                                                              on_unknown=on_unknown)
        indices = np.concatenate([in_scope[np.asarray(kept, np.int64)],
                                  np.asarray(out_of_scope, np.int64)])
        ids = np.concatenate([targets, np.full(len(out_of_scope), -1, np.int32)])
        order = np.argsort(indices, kind="stable")
        return ids[order], indices[order], skipped

    def fit_options(self, section, targets):
        """Keras fit() arguments the recipe's section asks for: class weights."""
        if not getattr(section, "class_weight", ""):
            return {}
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(targets)
        weights = compute_class_weight("balanced", classes=present, y=targets)
        return {"class_weight": {int(c): float(w) for c, w in zip(present, weights)}}


class ClassificationPostprocessor(Postprocessor, ClassificationAnswers):
    """Logits [B, C] -> label, label_id, probabilities (and rejection, or the labels
    over a multi-label threshold), in TF ops."""

    def __init__(self, config):
        super().__init__(config)
        self.threshold = config["threshold"]

    def postprocess(self, logits, assets):
        names = assets[LABELS_FILE]                                          # [C]
        # The calibration temperature: a scalar, or one per label [C] (multi-label).
        calibrated = logits / tf.constant(self.temperature, logits.dtype)    # [B, C]
        if not self.multi_label:
            probabilities = tf.nn.softmax(calibrated, axis=-1)               # [B, C]
            label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            label = tf.gather(names, label_id)                               # [B]
            outputs = {"label": label, "label_id": label_id,
                       "probabilities": probabilities, "logits": logits}
            if self.reject_label:
                rejected = tf.reduce_max(probabilities, axis=-1) < self.reject_below  # [B]
                outputs["rejected"] = rejected
                outputs["label"] = tf.where(rejected, tf.constant(self.reject_label), label)
                outputs["label_id"] = tf.where(rejected, self.out_of_scope_id, label_id)
            return outputs
        probabilities = tf.sigmoid(calibrated)                               # [B, C]
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        over_threshold = probabilities > self.threshold
        # With no label over the threshold, the best one: every text gets an answer.
        best = tf.one_hot(label_id, len(self.label_names), on_value=True, off_value=False)
        chosen = over_threshold | (best & ~tf.reduce_any(over_threshold, axis=-1, keepdims=True))
        labels = tf.where(chosen, tf.broadcast_to(names, tf.shape(chosen)), "")
        return {"label": tf.gather(names, label_id), "label_id": label_id, "labels": labels,
                "probabilities": probabilities, "logits": logits,
                "over_threshold": over_threshold}

    def example_signature(self):
        def classify(outputs, assets):
            probabilities = outputs["probabilities"]
            return {"classes": tf.broadcast_to(assets[LABELS_FILE], tf.shape(probabilities)),
                    "scores": probabilities}

        return "classify", tf.saved_model.CLASSIFY_METHOD_NAME, classify


@register_task("classification")
@keras.saving.register_keras_serializable(package="tfbert")
class TextClassifier(PooledTask):
    """BERT + a pooling head for sentiment, intent, paraphrase.

    Args:
      encoder: a `tfbert.BertEncoder` (usually `BertEncoder.from_pretrained(...)`).
      tokenizer: the checkpoint's `tfbert.BertTokenizer`.
      label_names: the classes; output j is `label_names[j]`. They live with the model.
      head: "cls" (pooled [CLS]), "attention" (attention pooling) or "mean".
      pair: inputs are (text, text_pair).
      multi_label: each label is an independent yes/no (sigmoid); a raw label such
        as "atis_flight#atis_airfare" names several, split on `label_separator`.
      threshold: probability above which a multi-label output counts as present.
      reject_below: single-label: answer `reject_label` when the top probability is under
        it (0: never). `choose_reject_below` sets it from held-out examples.
      reject_label: the answer for rejected inputs ("" : no rejection); examples labelled
        with it that are not one of `label_names` are out-of-scope examples (target -1).
      temperature: the logits are divided by it before the softmax (1: as trained); a
        list with one per label for multi-label. `calibrate` fits it on dev examples.
    """

    recipe_section = ClassificationSection
    default_eval_metric = recipe_section.default_eval_metric
    preprocessor_class = ClassificationPreprocessor
    postprocessor_class = ClassificationPostprocessor

    def __init__(self, encoder, tokenizer, label_names, head="cls", pair=False,
                 multi_label=False, label_separator="#", threshold=0.5, reject_below=0.0,
                 reject_label="", temperature=1.0, dropout=0.1, **kwargs):
        label_names = [str(name) for name in label_names]
        if len(label_names) < (1 if multi_label else 2):
            raise ValueError(f"a classifier needs at least two label names, got {label_names}.")
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"label_names has duplicates: {label_names}.")
        super().__init__(encoder, tokenizer, len(label_names), head=head, pair=pair,
                         dropout=dropout, **kwargs)
        self.label_names = label_names
        self.multi_label = multi_label
        self.label_separator = label_separator
        self.threshold = threshold
        if reject_label and multi_label:
            raise ValueError("rejection (reject_label) is for single-label classifiers.")
        if not 0.0 <= float(reject_below) < 1.0:
            raise ValueError(f"reject_below must be in [0, 1), got {reject_below}.")
        self.reject_below = float(reject_below)
        self.reject_label = str(reject_label)
        self.temperature = self._checked_temperature(temperature)

    def _checked_temperature(self, temperature):
        values = temperature if isinstance(temperature, (list, tuple, np.ndarray)) else [temperature]
        values = [float(value) for value in values]
        if not all(np.isfinite(value) and value > 0 for value in values):
            raise ValueError(f"temperature must be positive and finite, got {temperature}.")
        if len(values) == 1 and not isinstance(temperature, (list, tuple, np.ndarray)):
            return values[0]
        if not self.multi_label or len(values) != len(self.label_names):
            raise ValueError(f"a list of temperatures is for a multi-label classifier, one per "
                             f"label ({len(self.label_names)}); got {len(values)}.")
        return values

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        vocabulary = LabelVocabulary.from_labels(
            train_examples.labels, multi_label=section.multi_label, separator=section.label_separator)
        # "auto" starts at 0 (nothing rejected) until `choose_on_dev` picks the threshold.
        reject_below = 0.0 if section.reject_below == "auto" else section.reject_below
        return cls(label_names=vocabulary.names, head=section.head, multi_label=section.multi_label,
                   label_separator=section.label_separator, threshold=section.threshold,
                   reject_below=reject_below,
                   reject_label=section.reject_label if section.rejects else "",
                   **section.long_text_options(), **common)

    def choose_on_dev(self, section, dev_examples):
        """What the recipe leaves to the dev set, in this order: the temperature
        (calibrate = true), then reject_below = "auto" (on calibrated probabilities).
        Returns what was chosen, as lines to print, or None."""
        lines = []
        if getattr(section, "calibrate", False):
            lines.append(self.calibrate(dev_examples))
        if getattr(section, "reject_below", None) == "auto":
            threshold, kept = self.choose_reject_below(dev_examples, section.reject_recall)
            lines.append(f'reject_below = "auto": {threshold:.4f}, which keeps {kept:.1%} of '
                         f"the dev set's in-scope examples (reject_recall = {section.reject_recall})")
        return "\n".join(lines) or None

    def calibrate(self, examples):
        """Sets the temperature to the one that minimises the log loss of `examples`
        (held-out: the dev set), as `tfbert.evaluation.calibration.fit_temperature`;
        returns a line saying what was fitted, and what it did to the expected
        calibration error (ECE) of those examples. Examples of a class the model does
        not know (out of scope) are left out; examples of one class only fit nothing
        (the line says so, and the temperature stays)."""
        from tfbert.evaluation.calibration import (CalibrationError, apply_temperature,
                                                   calibration_metrics, fit_temperature)

        data = self.tokenize(examples, on_unknown="skip")
        targets = np.asarray(data.targets)
        logits = self.predict(data)["logits"]
        if not self.multi_label:
            logits, targets = logits[targets >= 0], targets[targets >= 0]
        try:
            temperature = fit_temperature(logits, targets, self.multi_label, self.label_names)
        except CalibrationError as error:
            return (f"calibration: not fitted on {examples.source}: {error} "
                    f"(temperature stays {self.temperature})")
        before = calibration_metrics(apply_temperature(logits, 1.0, self.multi_label), targets,
                                     self.multi_label)
        after = calibration_metrics(apply_temperature(logits, temperature, self.multi_label),
                                    targets, self.multi_label)
        self.temperature = temperature
        shown = (f"{temperature:.3f}" if not self.multi_label else
                 f"one per label, {min(temperature):.3f} to {max(temperature):.3f}")
        return (f"calibration: temperature {shown}, fitted on the dev set's {len(targets)} "
                f"examples: ECE {before['ece']:.4f} -> {after['ece']:.4f}, log loss "
                f"{before['log_loss']:.4f} -> {after['log_loss']:.4f} (calibrate = false: off)")

    def choose_reject_below(self, examples, recall=0.95):
        """Sets reject_below to the highest threshold under which at most 1 - recall of
        the in-scope `examples` (labels that are label names) have their top probability.
        Returns (threshold, the share of in-scope examples it keeps)."""
        if not self.reject_label:
            raise ValueError("choose_reject_below needs a reject_label.")
        data = self.tokenize(examples, on_unknown="skip")
        in_scope = np.asarray(data.targets) >= 0
        if not in_scope.any():
            raise ValueError(f"{examples.source}: no in-scope examples to choose reject_below on.")
        top = self.predict(data)["probabilities"].max(axis=-1)[in_scope]
        # Rejected means top < threshold, so the threshold is the k-th smallest top
        # probability with k = floor((1 - recall) * n) of them under it.
        threshold = np.sort(top)[int(np.floor((1.0 - recall) * len(top) + 1e-9))]
        self.reject_below = float(min(threshold, np.nextafter(np.float32(1), np.float32(0))))
        return self.reject_below, float((top >= self.reject_below).mean())

    def initialize_from_targets(self, targets):
        """Multi-label: starts each output at its label's training frequency,
        bias = log(p / (1 - p)).

        Why: a multi-label head starts at p = 0.5 for every label, so its first steps
        are one shared push of every logit down, which with this head drives the tanh
        pooler into saturation and the model never leaves the majority intent (ATIS
        stayed at 71% for 3 epochs). Starting at the priors removes that push (the
        prior initialisation of Lin et al., 2017, "Focal loss"). Softmax classifiers
        start unchanged: their first steps do not push every logit the same way.
        """
        if not self.multi_label:
            return
        targets = np.asarray(targets)
        frequency = targets.mean(axis=0) if len(targets) else np.full(len(self.label_names), 0.5)
        frequency = np.clip(frequency, 1e-4, 1 - 1e-4)
        self.head.output_dense.bias.assign(np.log(frequency / (1 - frequency)).astype(np.float32))

    def default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def plain_config(self):
        return {**super().plain_config(), "label_names": self.label_names,
                "multi_label": self.multi_label, "label_separator": self.label_separator,
                "threshold": self.threshold, "reject_below": self.reject_below,
                "reject_label": self.reject_label, "temperature": self.temperature}
