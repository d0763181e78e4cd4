"""Text classification: one text or a text pair -> one label (softmax) or several (sigmoid).

Recipe: `task = "classification"`, with a [classification] table (ClassificationSection).
Served outputs (`serving_default`, and in-process `predict`, from one `postprocess`):

    label          string  [B]     the most likely label
    label_id       int32   [B]     its index into the label names
    probabilities  float32 [B, C]  softmax (multi-label: sigmoid of each label)
    logits         float32 [B, C]
  multi-label only:
    labels         string  [B, C]  label j's name where it is predicted, else "": every
                                   label over the threshold, or the best one if none is
    over_threshold bool    [B, C]
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.labels import LabelVocabulary
from tfbert.layers.heads import POOLING_HEADS
from tfbert.metrics import classification_metrics, multilabel_metrics
from tfbert.tasks.pooled_task import PooledTask
from tfbert.tasks.registry import register_task

LABELS_FILE = "labels.txt"


@dataclasses.dataclass
class ClassificationSection:
    """The [classification] table of a recipe."""

    head: str = "cls"  # cls | attention | mean | auto (the checkpoint's own pooling)
    multi_label: bool = False  # each label an independent yes/no (sigmoid)
    label_separator: str = "#"  # multi-label: "atis_flight#atis_airfare" names two
    threshold: float = 0.5  # multi-label: probability over which a label is predicted
    # "balanced": each class's loss weighted by n / (classes * its count) (scikit-learn's
    # compute_class_weight), so small classes count as much as large ones; "": none.
    class_weight: str = ""

    def check(self):
        if self.head not in (*POOLING_HEADS, "auto"):
            raise ValueError(f"head = {self.head!r} is not one of: {', '.join(POOLING_HEADS)}, auto.")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")
        if not self.label_separator:
            raise ValueError("label_separator must not be empty.")
        if self.class_weight not in ("", "balanced"):
            raise ValueError(f"class_weight = {self.class_weight!r} is not one of: \"\" (none), balanced.")
        if self.class_weight and self.multi_label:
            raise ValueError("class_weight = \"balanced\" is for single-label classification; "
                             "a multi-label classifier has no single class per example to weigh.")


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
    """

    recipe_section = ClassificationSection
    default_eval_metric = "accuracy"

    def __init__(self, encoder, tokenizer, label_names, head="cls", pair=False,
                 multi_label=False, label_separator="#", threshold=0.5, dropout=0.1, **kwargs):
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

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        vocabulary = LabelVocabulary.from_labels(
            train_examples.labels, multi_label=section.multi_label, separator=section.label_separator)
        return cls(label_names=vocabulary.names, head=section.head, multi_label=section.multi_label,
                   label_separator=section.label_separator, threshold=section.threshold, **common)

    @property
    def label_vocabulary(self):
        return LabelVocabulary(self.label_names, multi_label=self.multi_label,
                               separator=self.label_separator)

    # ----------------------------------------------------------------- targets

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
        naming its file and line (or, with on_unknown="skip", left out and counted)."""
        targets, kept, skipped = self.label_vocabulary.encode(examples, on_unknown=on_unknown)
        return targets, np.asarray(kept, np.int64), skipped

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

    def fit_options(self, section, targets):
        """Keras fit() arguments the recipe's section asks for: class weights."""
        if not getattr(section, "class_weight", ""):
            return {}
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(targets)
        weights = compute_class_weight("balanced", classes=present, y=targets)
        return {"class_weight": {int(c): float(w) for c, w in zip(present, weights)}}

    def default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    # ----------------------------------------------------------------- outputs

    def export_assets(self):
        for name in self.label_names:
            if "\n" in name or "\r" in name:
                raise ValueError(f"label name {name!r} contains a line break; {LABELS_FILE} "
                                 "holds one label a line.")
        return {LABELS_FILE: self.label_names}

    def postprocess(self, logits, assets):
        names = assets[LABELS_FILE]                                          # [C]
        if not self.multi_label:
            probabilities = tf.nn.softmax(logits, axis=-1)                   # [B, C]
            label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"label": tf.gather(names, label_id), "label_id": label_id,
                    "probabilities": probabilities, "logits": logits}
        probabilities = tf.sigmoid(logits)                                   # [B, C]
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

    @classmethod
    def prediction_rows(cls, outputs, config):
        names = config["label_names"]
        rows = []
        for i, label in enumerate(outputs["label"]):
            if config["multi_label"]:  # the predicted labels' names, "" elsewhere
                label = [str(name) for name in outputs["labels"][i] if name]
            else:
                label = str(label)
            rows.append({"label": label, "probabilities": _named(names, outputs["probabilities"][i])})
        return rows

    # -------------------------------------------------------------- evaluation

    def score_outputs(self, targets, outputs):
        if self.multi_label:
            truth = targets.astype(bool)
            metrics = multilabel_metrics(truth, outputs["labels"] != "", self.label_names)
            gold = [[name for name, present in zip(self.label_names, row) if present]
                    for row in truth]
            same = lambda gold, predicted: sorted(gold) == sorted(predicted)
        else:
            metrics = classification_metrics(targets, outputs["label_id"], self.label_names)
            gold = [self.label_names[i] for i in targets]
            same = lambda gold, predicted: gold == predicted
        rows = [{"label": expected, "predicted": row["label"],
                 "correct": same(expected, row["label"]), "probabilities": row["probabilities"]}
                for expected, row in zip(gold, self.prediction_rows_of(outputs))]
        return metrics, rows

    def metric_summary(self, metrics):
        summary = [("exact match" if self.multi_label else "accuracy", metrics["accuracy"])]
        if "f1" in metrics:
            summary.append((f"F1 of {self.label_names[1]!r}", metrics["f1"]))
        for average in ("macro", "micro", "weighted", "samples"):
            if f"{average}_f1" in metrics:
                summary.append((f"{average} F1", metrics[f"{average}_f1"]))
        return summary

    def get_config(self):
        return {**super().get_config(), "label_names": self.label_names,
                "multi_label": self.multi_label, "label_separator": self.label_separator,
                "threshold": self.threshold}


def _named(names, values):
    return {name: round(float(value), 6) for name, value in zip(names, values)}
