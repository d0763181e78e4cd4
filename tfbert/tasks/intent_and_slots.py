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

import keras

from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import IntentAndSlotsSection
from tfbert.tasks.token_classifier import TokenClassifier


@register_task("intent_and_slots")
@keras.saving.register_keras_serializable(package="tfbert")
class IntentAndSlots(TokenClassifier):
    """The slot tagger with its intent head (`TokenClassifier(..., intent_names=...)`,
    whose preprocessor and postprocessor carry the intent beside the tags): what the
    joint kind adds is its recipe table and that every model of it has intents."""

    recipe_section = IntentAndSlotsSection
    default_eval_metric = recipe_section.default_eval_metric
    # training.head_learning_rate = "auto": the intent head, the slot tagger and its CRF
    # at 1e-3 (10x the encoder's 1e-4). Measured on both joint sets (bench/RESULTS.md):
    # test slot F1 ATIS 95.03 -> 95.37, SNIPS 95.34 -> 95.65.
    default_head_learning_rate = 1e-3

    def __init__(self, encoder, tokenizer, tag_names, intent_names, **kwargs):
        super().__init__(encoder, tokenizer, tag_names, intent_names=intent_names, **kwargs)

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        if train_examples.labels is None:
            raise ValueError(f"{train_examples.source}: no intents were read; set "
                             "intent_and_slots.intent_column.")
        return cls(tag_names=cls.tag_names_of(section, train_examples),
                   intent_names=sorted(set(train_examples.labels)),
                   **cls.tagging_options(section), **common)
