"""Task kinds: each is one module here, registered under the name recipes use.

    classification  TextClassifier   (text_classifier.py)
    regression      TextRegressor    (text_regressor.py)

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
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfbert.tasks' has no attribute {name!r}")


__all__ = ["Task", "TextClassifier", "TextRegressor", "register_task", "task_class", "task_names"]
