"""Text classification: one text or a text pair -> one label (softmax) or several (sigmoid)."""

import keras
import numpy as np

from tfbert.data.labels import LabelVocabulary
from tfbert.data.readers import TextExamples
from tfbert.tasks.text_task import TextTask


@keras.saving.register_keras_serializable(package="tfbert")
class TextClassifier(TextTask):
    """BERT + a head for sentiment, intent, paraphrase.

    Args:
      encoder: a `tfbert.BertEncoder` (usually `BertEncoder.from_pretrained(...)`).
      tokenizer: the checkpoint's `tfbert.BertTokenizer`.
      label_names: the classes; output j is `label_names[j]`. They live with the model.
      head: "cls" (pooled [CLS]) or "attention" (attention pooling).
      pair: inputs are (text, text_pair).
      multi_label: each label is an independent yes/no (sigmoid); a raw label such
        as "atis_flight#atis_airfare" names several, split on `label_separator`.
      threshold: probability above which a multi-label output counts as present.
    """

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

    @property
    def label_vocabulary(self):
        return LabelVocabulary(self.label_names, multi_label=self.multi_label,
                               separator=self.label_separator)

    def encode_targets(self, labels):
        """Label names (or ids; lists of names for multi-label) -> int32 ids [n], or
        multi-hot float32 [n, labels]. An unknown label is an error naming its position."""
        raw = []
        for label in labels:
            if isinstance(label, (int, np.integer)) and 0 <= label < len(self.label_names):
                label = self.label_names[label]
            elif self.multi_label and isinstance(label, (list, tuple)):
                label = self.label_separator.join(map(str, label))
            raw.append(str(label))
        given = TextExamples(texts=[""] * len(raw), text_pairs=None, labels=raw,
                             source="labels given", line_numbers=list(range(1, len(raw) + 1)))
        targets, _, _ = self.label_vocabulary.encode(given)
        return targets

    def set_output_bias_to_label_priors(self, targets):
        """Starts each output at its label's training frequency: bias = log(p / (1 - p)).

        Why: a multi-label head starts at p = 0.5 for every label, so its first steps
        are one shared push of every logit down, which with this head drives the tanh
        pooler into saturation and the model never leaves the majority intent (ATIS
        stayed at 71% for 3 epochs). Starting at the priors removes that push (the
        prior initialisation of Lin et al., 2017, "Focal loss"). For softmax outputs
        the prior is log(p). targets: multi-hot [n, labels] or ids [n].
        """
        targets = np.asarray(targets)
        if self.multi_label:
            frequency = targets.mean(axis=0) if len(targets) else np.full(len(self.label_names), 0.5)
            frequency = np.clip(frequency, 1e-4, 1 - 1e-4)
            bias = np.log(frequency / (1 - frequency))
        else:
            counts = np.bincount(targets.astype(np.int64), minlength=len(self.label_names))
            bias = np.log(np.maximum(counts, 1) / max(len(targets), 1))
        self.head.output_dense.bias.assign(bias.astype(np.float32))

    def compile(self, optimizer="adamw", loss="auto", metrics="auto", **kwargs):
        if loss == "auto":
            loss = (keras.losses.BinaryCrossentropy(from_logits=True) if self.multi_label
                    else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if metrics == "auto":
            metrics = ([keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
                       if self.multi_label
                       else [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def probabilities(self, logits):
        logits = np.asarray(logits, np.float64)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predict(self, x, batch_size=32, **kwargs):
        """Raw texts -> {"labels", "label_ids", "probabilities", "logits"}.

        Multi-class: one label per text. Multi-label: "labels" holds, per text, the
        list of labels over `threshold` (the single most likely one if none is).
        A `tf.data.Dataset` of token features returns Keras' plain logits.
        """
        if not self.is_raw_text(x):
            return super().predict(x, **kwargs)
        logits = self.predict_outputs(x, batch_size=batch_size, **kwargs)
        probabilities = self.probabilities(logits)
        if self.multi_label:
            present = probabilities > self.threshold
            best = probabilities.argmax(axis=-1) if len(probabilities) else np.zeros(0, int)
            present[np.arange(len(present)), best] |= ~present.any(axis=-1)
            label_ids = [np.flatnonzero(row).tolist() for row in present]
            labels = [[self.label_names[i] for i in ids] for ids in label_ids]
        else:
            label_ids = probabilities.argmax(axis=-1) if len(probabilities) else np.zeros(0, int)
            labels = [self.label_names[i] for i in label_ids]
        return {"labels": labels, "label_ids": label_ids, "probabilities": probabilities,
                "logits": logits}

    def get_config(self):
        config = super().get_config()
        config.update(
            label_names=self.label_names,
            multi_label=self.multi_label,
            label_separator=self.label_separator,
            threshold=self.threshold,
        )
        return config
