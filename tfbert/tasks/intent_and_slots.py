"""Joint intent detection and slot filling: one model, a [CLS] head for the intent and
a tag per word (softmax or CRF) for the slots, trained together (JointBERT's design).

Recipe: `task = "intent_and_slots"`, with an [intent_and_slots] table: the keys of
[token_classification] and `intent_column` (the intent file of a seq.in folder, a
JSONL key). The loss is the intent's cross-entropy plus the slots' loss.

Served: the outputs of `TokenClassifier` (entities with offsets, or `tags` from
`predict_words`) and
    intent                string  [B]
    intent_id             int32   [B]
    intent_probabilities  float32 [B, K]   (a sentence cut into windows: their mean)
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import IntentAndSlotsSection
from tfbert.tasks.rows import intent_and_slots_rows
from tfbert.tasks.token_classifier import TokenClassifier

INTENTS_FILE = "intents.txt"


@register_task("intent_and_slots")
@keras.saving.register_keras_serializable(package="tfbert")
class IntentAndSlots(TokenClassifier):
    """BERT with a [CLS] intent head and a slot tagger; `intent_names` are the intents."""

    recipe_section = IntentAndSlotsSection
    default_eval_metric = recipe_section.default_eval_metric
    # training.head_learning_rate = "auto": the intent head, the slot tagger and its CRF
    # at 1e-3 (10x the encoder's 1e-4). Measured on both joint sets (bench/README.md,
    # "Token tagging"): test slot F1 ATIS 95.03 -> 95.37, SNIPS 95.34 -> 95.65.
    default_head_learning_rate = 1e-3

    def __init__(self, encoder, tokenizer, tag_names, intent_names, **kwargs):
        self.intent_names = [str(name) for name in intent_names]
        if len(set(self.intent_names)) != len(self.intent_names) or len(self.intent_names) < 1:
            raise ValueError(f"intent_names must be distinct and not empty; got {intent_names}.")
        super().__init__(encoder, tokenizer, tag_names, **kwargs)

    def build_heads(self):
        self.intent_head = ClsPoolingHead(len(self.intent_names), dropout=self.dropout,
                                          dtype=self.encoder.dtype_policy, name="intent_head")

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        if train_examples.labels is None:
            raise ValueError(f"{train_examples.source}: no intents were read; set "
                             "intent_and_slots.intent_column.")
        return cls(tag_names=cls.tag_names_of(section, train_examples),
                   intent_names=sorted(set(train_examples.labels)),
                   **cls.tagging_options(section), **common)

    @property
    def reads_pooled_output(self):
        return True

    def head_outputs(self, encoder_outputs, inputs, training):
        return {"intent_logits": self.intent_head(encoder_outputs, inputs["input_mask"],
                                                  training=training)}

    def default_loss(self):
        return {**super().default_loss(), "intent_logits": keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1)}

    def preprocess(self, features, targets):
        x, y = super().preprocess(features, targets)
        return x, {**y, "intent_logits": targets["label_ids"]}

    # ----------------------------------------------------------------- targets

    def encode_targets(self, examples, on_unknown="error"):
        """The slots' targets, and "label_ids" int32 [n] (-1: an intent the model does
        not know, kept under on_unknown="keep")."""
        if examples.labels is None:
            raise ValueError(f"{examples.source}: no intents were read; set "
                             "intent_and_slots.intent_column.")
        index = {name: i for i, name in enumerate(self.intent_names)}
        unknown_intent = [i for i, label in enumerate(examples.labels) if label not in index]
        if unknown_intent and on_unknown == "error":
            i = unknown_intent[0]
            raise ValueError(f"{examples.location(i)}: intent {examples.labels[i]!r} is not one "
                             f"the model knows ({len(self.intent_names)} intents). Set "
                             "data.on_unknown_label to 'keep' (scored as wrong) or 'skip'.")
        if unknown_intent and on_unknown == "skip":
            keep = sorted(set(range(len(examples))) - set(unknown_intent))
            targets, kept, skipped = super().encode_targets(examples.select(keep), on_unknown)
            kept = np.asarray(keep, np.int64)[kept]
            skipped += len(unknown_intent)
        else:
            targets, kept, skipped = super().encode_targets(examples, on_unknown)
        targets["label_ids"] = np.array([index.get(examples.labels[i], -1) for i in kept], np.int32)
        targets["gold_intents"] = [examples.labels[i] for i in kept]
        return targets, kept, skipped

    # ----------------------------------------------------------------- outputs

    def head_predictions(self, outputs):
        return {"intent_probabilities": tf.nn.softmax(tf.cast(outputs["intent_logits"], tf.float32))}

    def head_outputs_of(self, predicted):
        probabilities = predicted["intent_probabilities"]                        # [B, K]
        intent_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"intent": tf.gather(tf.constant(self.intent_names), intent_id),
                "intent_id": intent_id, "intent_probabilities": probabilities}

    def export_assets(self):
        return {**super().export_assets(), INTENTS_FILE: self.intent_names}

    prediction_rows = staticmethod(intent_and_slots_rows)

    # -------------------------------------------------------------- evaluation

    def score_outputs(self, targets, outputs):
        metrics, rows = super().score_outputs(targets, outputs)
        predicted = [self.intent_names[i] for i in np.argmax(outputs["intent_probabilities"], -1)]
        right = [p == g for p, g in zip(predicted, targets["gold_intents"])]
        metrics["intent_accuracy"] = float(np.mean(right)) if right else 0.0
        frames = [ok and row["correct"] for ok, row in zip(right, rows)]
        metrics["sentence_accuracy"] = float(np.mean(frames)) if frames else 0.0
        for row, gold, intent, frame in zip(rows, targets["gold_intents"], predicted, frames):
            row.update(intent=gold, predicted_intent=intent, correct=frame)
        return metrics, rows

    def metric_summary(self, metrics):
        return [("intent accuracy", metrics["intent_accuracy"]),
                ("sentence accuracy", metrics["sentence_accuracy"]),
                *super().metric_summary(metrics)]

    def get_config(self):
        return {**super().get_config(), "intent_names": self.intent_names}
