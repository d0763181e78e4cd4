"""Task kinds: each is one module here, registered under the name recipes use.

    classification        TextClassifier        (text_classifier.py)
    regression            TextRegressor         (text_regressor.py)
    token_classification  TokenClassifier       (token_classifier.py)
    intent_and_slots      IntentAndSlots        (intent_and_slots.py)
    pretraining           MaskedLanguageModel   (masked_lm.py)
    embedding             SentenceEmbedder      (sentence_embedder.py)

Each is three parts: the Keras model (task.py's `Task`), a preprocessor (examples ->
Keras' x, y; preprocessor.py) and a postprocessor (outputs -> answers; postprocessor.py).
The recipe tables (sections.py) and the postprocessors' pure-Python half (answers.py:
rows, scores, baseline plans) import no TensorFlow, so that recipes load and served
answers become rows without it.

`tfbert.tasks.registry.task_class(name)` looks a kind up; see task.py for the
contract a new kind fills in. The classes are imported on first use (they import
TensorFlow; the registry does not).
"""

import importlib

from tfbert.tasks.registry import register_task, task_class, task_names

_LAZY = {
    "Task": "tfbert.tasks.task",
    "TextClassifier": "tfbert.tasks.text_classifier",
    "TextRegressor": "tfbert.tasks.text_regressor",
    "TokenClassifier": "tfbert.tasks.token_classifier",
    "IntentAndSlots": "tfbert.tasks.intent_and_slots",
    "MaskedLanguageModel": "tfbert.tasks.masked_lm",
    "SentenceEmbedder": "tfbert.tasks.sentence_embedder",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfbert.tasks' has no attribute {name!r}")


__all__ = ["IntentAndSlots", "MaskedLanguageModel", "SentenceEmbedder", "Task", "TextClassifier",
           "TextRegressor", "TokenClassifier", "register_task", "task_class", "task_names"]
