"""Which class runs a recipe's `task = "..."`.

A task kind registers itself under the name recipes use:

    @register_task("classification")
    class TextClassifier(PooledTask): ...

Nothing outside `tfbert/tasks/` branches on the kind of task: training, evaluation,
export, the command line and the recipe loader look the class up here and ask it.
The built-in kinds are imported on first use, so that reading this module (and the
recipe loader) costs no TensorFlow import until a task is really needed.
"""

import importlib

# name -> the module that registers it when imported.
_BUILT_IN = {
    "classification": "tfbert.tasks.text_classifier",
    "regression": "tfbert.tasks.text_regressor",
    "token_classification": "tfbert.tasks.token_classifier",
    "intent_and_slots": "tfbert.tasks.intent_and_slots",
    "pretraining": "tfbert.tasks.masked_lm",
    "embedding": "tfbert.tasks.sentence_embedder",
}
_REGISTERED = {}
# name -> its recipe table in tfbert.tasks.sections (no TensorFlow).
_SECTIONS = {
    "classification": "ClassificationSection",
    "regression": "RegressionSection",
    "token_classification": "TokenClassificationSection",
    "intent_and_slots": "IntentAndSlotsSection",
    "pretraining": "PretrainingSection",
    "embedding": "EmbeddingSection",
}
# name -> its postprocessor's pure-Python half in tfbert.tasks.answers (no TensorFlow).
_ANSWERS = {
    "classification": "ClassificationAnswers",
    "regression": "RegressionAnswers",
    "token_classification": "TaggingAnswers",
    "intent_and_slots": "TaggingAnswers",
    "pretraining": "PretrainingAnswers",
    "embedding": "EmbeddingAnswers",
}


def register_task(name):
    """Class decorator: recipes name this class by `name` (`task = "name"`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a task name must be a Python identifier (it names a recipe "
                         f"section, [{name}]); got {name!r}.")

    def register(cls):
        known = _REGISTERED.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"task {name!r} is already registered by "
                             f"{known.__module__}.{known.__qualname__}.")
        cls.task_name = name
        _REGISTERED[name] = cls
        return cls

    return register


def task_names():
    return sorted(set(_BUILT_IN) | set(_REGISTERED))


def task_class(name):
    """The class registered as `name`; a ValueError lists the known names."""
    if name not in _REGISTERED and name in _BUILT_IN:
        importlib.import_module(_BUILT_IN[name])
    if name not in _REGISTERED:
        raise ValueError(f"task {name!r} is not one of: {', '.join(task_names())}.")
    return _REGISTERED[name]


def answers_class_of(name):
    """The kind's `Answers` class (rows, scores, baseline plan); a built-in kind's without
    importing TensorFlow (for answers from TF Serving), a registered kind's postprocessor."""
    if name in _ANSWERS and name not in _REGISTERED:
        from tfbert.tasks import answers

        return getattr(answers, _ANSWERS[name])
    return task_class(name).postprocessor_class


def recipe_section_of(name):
    """The dataclass of the kind's recipe table; a built-in kind's without importing
    TensorFlow. A ValueError lists the known kinds."""
    if name in _SECTIONS and name not in _REGISTERED:
        from tfbert.tasks import sections

        return getattr(sections, _SECTIONS[name])
    return task_class(name).recipe_section


def read_examples_of_kind(name, path, data, labels=True, section=None):
    """The examples of a file as the kind reads them (its recipe table's
    `read_examples`, else texts with the [data] columns); a built-in kind's without
    importing TensorFlow."""
    if section is None:
        table = recipe_section_of(name)
        section = table() if table else None
    if hasattr(section, "read_examples"):
        return section.read_examples(path, data, labels)
    from tfbert.tasks.sections import read_text_examples

    return read_text_examples(path, data, labels)


def baseline_plan_of_kind(name, section, read_train, on_unknown="error"):
    """The kind's bag-of-words baseline plan (`Answers.baseline_plan`), or None; a
    built-in kind's without importing TensorFlow."""
    return answers_class_of(name).baseline_plan(section, read_train, on_unknown)
