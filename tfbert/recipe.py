"""Recipes: a fine-tuning job as a TOML file, checked before anything runs.

A recipe names the task, the data and its columns, the checkpoint, the
hyper-parameters and the export, and has one table for its kind of task
([classification], [regression], ...) whose keys the task's own module defines
(`recipe_section` of the class that `tfbert.tasks.registry` finds for `task`).
Every key has a type and a default; an unknown key or a value of the wrong type is
an error that lists the valid keys, so a typo (`learning_rte`) cannot silently fall
back to a default.

Relative paths in a recipe file are relative to that file's folder; paths given
with `--set` on the command line are relative to the current directory.
"""

import dataclasses
import math
import pathlib
import tomllib

from tfbert.io.names import SAFE_NAME_RULE, is_safe_name
from tfbert.tasks.registry import (baseline_plan_of_kind, read_examples_of_kind, recipe_section_of,
                                   task_class, task_names)


@dataclasses.dataclass
class DataSection:
    train: str = ""
    dev: str = ""
    test: str = ""
    format: str = ""  # tsv | csv | jsonl | seq_in | conll | tagged_lines; empty: from the suffix
    text_column: str = "text"
    text_pair_column: str = ""  # set for pair tasks
    label_column: str = "label"
    # error | skip | keep (evaluation data only; skips are counted; keep: token tagging
    # scores the entities of an unknown type as missed)
    on_unknown_label: str = "error"
    max_train_examples: int = 0  # 0: all


@dataclasses.dataclass
class TrainingSection:
    # The defaults of every task kind, chosen on evidence (bench/RESULTS.md, "Defaults"):
    # MiniLM-sized encoders fine-tune best near 1e-4; up to 5 epochs, stopped early on
    # the dev metric (patience) with the best epoch kept.
    epochs: int = 5
    # At least this many optimizer steps: a small training set gets more epochs
    # (epochs = max(epochs, ceil(min_steps / steps per epoch))); 0: exactly `epochs`.
    min_steps: int = 0
    batch_size: int = 32
    learning_rate: float = 1e-4
    # The head's peak rate (same schedule); 0: learning_rate; "auto": the task kind's own
    # (Task.default_head_learning_rate: 1e-3 for classification and regression heads,
    # chosen on evidence in bench/RESULTS.md "Defaults"; learning_rate for the others).
    head_learning_rate: float = dataclasses.field(
        default="auto", metadata={"or_strings": ("auto",), "type": float})
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    # Batches are padded to their own longest row, so a cap above the text's length costs
    # nothing: 256 changes only long texts (30 % of ChnSentiCorp's reviews are over 128
    # tokens, +0.83 dev at 256; no row of the English sets here reaches 128; bench/RESULTS.md
    # "Defaults"). Cut at the checkpoint's positions if it has fewer.
    max_length: int = 256
    dropout: float = 0.1
    seed: int = 0
    mixed_precision: str = "none"  # none | bf16 | fp16
    xla: bool = False
    # none | mirrored (every local GPU, else every logical CPU device) | multi_worker (the
    # machines TF_CONFIG lists; `tfbert train --workers N` on one machine):
    # tfbert/training/distribute.py. batch_size is the global batch, shared by the replicas.
    distribute: str = "none"
    # multi_worker: seconds to wait for every worker to join before giving up with an error.
    worker_timeout: int = 300
    # multi_worker: how workers all-reduce: auto (TensorFlow picks; ring on CPUs) | ring |
    # nccl (GPUs: NVIDIA's collectives within and across machines).
    collective: str = "auto"
    checkpoint_every: int = 200  # steps between resume checkpoints
    # model.keras keeps the optimizer's state (to continue training it with Keras);
    # off: a finished run keeps its weights once and no optimizer state.
    keep_optimizer_state: bool = False
    # Also fit a bag-of-words model on the same data (tfbert/evaluation/baseline.py) and say how far
    # BERT is above it; classification and regression only.
    baseline: bool = True
    eval_metric: str = ""  # empty: the task's own (accuracy, spearman, ...)
    # Early stopping: stop once this many epochs in a row bring no better dev eval_metric
    # (0: train every epoch; without data.dev every epoch is trained); the best epoch's
    # weights are kept either way.
    patience: int = 2


def epochs_to_run(training, steps_per_epoch):
    """`training.epochs`, raised until the run makes at least `training.min_steps` steps."""
    needed = -(-training.min_steps // max(steps_per_epoch, 1))  # ceil
    return max(training.epochs, needed)


@dataclasses.dataclass
class ExportSection:
    name: str = ""  # empty: the recipe's name
    dir: str = "saved_models"
    enabled: bool = True
    compute_dtype: str = "float32"  # float16 for GPU serving (inputs, outputs stay float32)
    # The encoder XLA-compiled on bucketed shapes: faster one-sentence requests on CPU
    # (bench/RESULTS.md); TF Serving then needs --xla_cpu_compilation_enabled=true.
    xla: bool = False
    # An `explain` signature: each word's attribution to the answer, as `tfbert
    # explain` gives it (integrated gradients over explain_steps points, baseline [PAD]).
    explain: bool = False
    explain_steps: int = 50


def _values(item_type):
    """A list-valued key of [search]: the values to try, each of `item_type`."""
    return dataclasses.field(default_factory=list, metadata={"items": item_type})


@dataclasses.dataclass
class SearchSection:
    """[search]: hyperparameter search with KerasTuner, `tfbert search RECIPE`
    (tfbert/search.py). Each list names the values to try; an empty list keeps the
    recipe's own value. The objective is the dev set's training.eval_metric."""

    max_trials: int = 8
    algorithm: str = "random"  # random | bayesian | grid (KerasTuner's oracles)
    learning_rate: list = _values(float)
    head_learning_rate: list = _values(float)
    epochs: list = _values(int)
    batch_size: list = _values(int)
    dropout: list = _values(float)
    head: list = _values(str)  # the task table's head (classification, regression)

    def searched(self):
        """{key: values} of the keys with values to try."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if "items" in f.metadata and getattr(self, f.name)}


@dataclasses.dataclass
class Recipe:
    name: str = ""
    task: str = "classification"  # a registered task kind: tfbert.tasks.registry
    checkpoint: str = "all-minilm-l6-v2"
    output_dir: str = ""  # empty: runs/<name>
    data: DataSection = dataclasses.field(default_factory=DataSection)
    training: TrainingSection = dataclasses.field(default_factory=TrainingSection)
    export: ExportSection = dataclasses.field(default_factory=ExportSection)
    search: SearchSection = dataclasses.field(default_factory=SearchSection)
    # The task's own table, [<task>]: an instance of its class's recipe_section.
    options: object = None
    source: str = ""  # the file it came from (not a key)

    @property
    def is_pair(self):
        return bool(self.data.text_pair_column)

    @property
    def task_class(self):
        return task_class(self.task)

    def read_examples(self, path, labels=True):
        """The examples of a file as this recipe's task kind reads them."""
        return read_examples_of_kind(self.task, path, self.data, labels, section=self.options)

    def baseline_plan(self, read_train):
        """The task kind's bag-of-words baseline plan, or None (see evaluation/baseline.py)."""
        return baseline_plan_of_kind(self.task, self.options, read_train, self.data.on_unknown_label)


_CHOICES = {
    ("data", "format"): ("", "tsv", "csv", "jsonl", "seq_in", "conll", "tagged_lines"),
    ("data", "on_unknown_label"): ("error", "skip", "keep"),
    ("training", "mixed_precision"): ("none", "bf16", "fp16"),
    ("training", "distribute"): ("none", "mirrored", "multi_worker"),
    ("training", "collective"): ("auto", "ring", "nccl"),
    ("export", "compute_dtype"): ("float32", "float16", "bfloat16"),
    ("search", "algorithm"): ("random", "bayesian", "grid"),
}
_POSITIVE = {("training", "epochs"), ("training", "batch_size"), ("training", "max_length"),
             ("training", "checkpoint_every"), ("training", "worker_timeout"),
             ("search", "max_trials"), ("export", "explain_steps")}
_PATH_KEYS = {("data", "train"), ("data", "dev"), ("data", "test"), ("output_dir",),
              ("export", "dir"), ("checkpoint",)}
# Keys that moved into the task's own table: the error says where they went.
_MOVED = {("head",): "{task}.head", ("data", "multi_label"): "classification.multi_label",
          ("data", "label_separator"): "classification.label_separator"}


class RecipeError(ValueError):
    pass


def _fields(cls):
    """A table's keys, its own before those it shares with other tables (a base class's:
    [classification]'s long-text keys come after head, multi_label, ...)."""
    own = set(getattr(cls, "__annotations__", {}))
    fields = [f for f in dataclasses.fields(cls) if f.name not in ("source", "options")]
    return {f.name: f for f in sorted(fields, key=lambda f: f.name not in own)}


def _check_value(where, key_path, value, field, or_strings=()):
    """`value` if it has the key's type (an int passes as a float), else a RecipeError.
    `field` is the key's dataclass field or a type; `or_strings`: words the key also
    takes (a number or "auto"); a list-valued key checks each of its items."""
    if isinstance(field, dataclasses.Field):
        if "items" in field.metadata:
            if not isinstance(value, list):
                raise RecipeError(f"{where}: {'.'.join(key_path)} must be a list of values to try, "
                                  f"e.g. [1e-4, 5e-5]; got {value!r}.")
            item = field.metadata["items"]
            return [_check_value(where, key_path[:-1] + (f"{key_path[-1]}[{i}]",), v, item)
                    for i, v in enumerate(value)]
        or_strings = field.metadata.get("or_strings", ())
        field = field.metadata.get("type", type(field.default))  # a default of "auto" is a word
    field_type = field
    expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if or_strings and isinstance(value, str):
        if value in or_strings:
            return value
        raise RecipeError(f"{where}: {'.'.join(key_path)} must be {expected[field_type]} or one of "
                          f"{', '.join(repr(word) for word in or_strings)}, got {value!r}.")
    ok = (
        (field_type is bool and isinstance(value, bool))
        or (field_type is int and isinstance(value, int) and not isinstance(value, bool))
        or (field_type is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (field_type is str and isinstance(value, str))
    )
    if not ok:
        raise RecipeError(
            f"{where}: {'.'.join(key_path)} must be {expected[field_type]}, got {value!r}."
        )
    return float(value) if field_type is float else value


def _apply(where, target, values, prefix=(), task=None):
    """Sets `values` (nested dicts) on the dataclass `target`, checking keys and types.
    At the top level (`task` given), the task's own table goes to target.options."""
    fields = _fields(type(target))
    valid = list(fields) + ([task] if task else [])
    for key, value in values.items():
        path = prefix + (key,)
        if task and key == task:
            if not isinstance(value, dict):
                raise RecipeError(f"{where}: {key} must be a table ([{key}]).")
            _apply(where, target.options, value, path)
            continue
        if key not in fields:
            hint = ""
            if task and key in task_names():
                hint = f" ([{key}] is the table of task {key!r}; this recipe's task is {task!r})"
            elif path in _MOVED:
                hint = f" (it moved to {_MOVED[path].format(task=task or values.get('task'))})"
            raise RecipeError(
                f"{where}: unknown key {'.'.join(path)!r}{hint}; valid keys"
                f"{' in [' + '.'.join(prefix) + ']' if prefix else ''}: {', '.join(valid)}."
            )
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise RecipeError(f"{where}: {'.'.join(path)} must be a table ([{key}]).")
            _apply(where, current, value, path)
        else:
            setattr(target, key, _check_value(where, path, value, fields[key]))


def _build(where, values):
    """A Recipe from nested values (a TOML file's, or a run directory's recipe.json)."""
    recipe = Recipe(source=where)
    task = values.get("task", recipe.task)
    if not isinstance(task, str):
        raise RecipeError(f"{where}: task must be a string, got {task!r}.")
    try:
        section = recipe_section_of(task)
    except ValueError:
        raise RecipeError(f"{where}: task = {task!r} is not one of: "
                          f"{', '.join(repr(name) for name in task_names())}.") from None
    recipe.options = section()
    _apply(where, recipe, values, task=task)
    return recipe


def _validate(recipe, where):
    for path, choices in _CHOICES.items():
        value = _get(recipe, path)
        if value not in choices:
            raise RecipeError(
                f"{where}: {'.'.join(path)} = {value!r} is not one of: "
                f"{', '.join(repr(c) for c in choices)}."
            )
    for path in _POSITIVE:
        if _get(recipe, path) <= 0:
            raise RecipeError(f"{where}: {'.'.join(path)} must be positive, got {_get(recipe, path)}.")
    t = recipe.training
    if t.patience < 0:
        raise RecipeError(f"{where}: training.patience must be 0 (off) or more, got {t.patience}.")
    if t.min_steps < 0:
        raise RecipeError(f"{where}: training.min_steps must be 0 or more, got {t.min_steps}.")
    if not 0.0 < t.learning_rate < 1.0:
        raise RecipeError(f"{where}: training.learning_rate must be in (0, 1), got {t.learning_rate}.")
    if t.head_learning_rate != "auto" and not 0.0 <= t.head_learning_rate < 1.0:
        raise RecipeError(f"{where}: training.head_learning_rate must be in [0, 1) (0: "
                          f"training.learning_rate), got {t.head_learning_rate}.")
    if not 0.0 <= t.warmup_ratio <= 1.0:
        raise RecipeError(f"{where}: training.warmup_ratio must be in [0, 1], got {t.warmup_ratio}.")
    if not 0.0 <= t.dropout < 1.0:
        raise RecipeError(f"{where}: training.dropout must be in [0, 1), got {t.dropout}.")
    if not recipe.name:
        raise RecipeError(f"{where}: name is required (it names the run and the export).")
    for key, value in (("name", recipe.name), ("export.name", recipe.export.name)):
        if value and not is_safe_name(value):
            raise RecipeError(f"{where}: {key} = {value!r} {SAFE_NAME_RULE}.")
    if not recipe.data.train:
        raise RecipeError(f"{where}: data.train is required.")
    if recipe.search.head and not hasattr(recipe.options, "head"):
        raise RecipeError(f"{where}: search.head: task {recipe.task!r} has no head to choose.")
    try:
        recipe.options.check()
    except ValueError as error:
        raise RecipeError(f"{where}: [{recipe.task}] {error}") from None
    needs_dev = getattr(recipe.options, "requires_dev", lambda: "")()
    if needs_dev and not recipe.data.dev:
        raise RecipeError(f"{where}: data.dev is required: [{recipe.task}] {needs_dev}.")


def _get(recipe, path):
    value = recipe
    for key in path:
        value = getattr(value, key)
    return value


def _set(recipe, path, value):
    target = recipe
    for key in path[:-1]:
        target = getattr(target, key)
    setattr(target, path[-1], value)


def parse_override(text):
    """'training.epochs=2' -> (('training', 'epochs'), 2). Values are TOML; bare words are strings."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE, e.g. training.epochs=2.")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return tuple(key.strip().split(".")), value


def load_recipe(path, overrides=()):
    """Reads, overrides (`KEY=VALUE` strings), validates; returns a Recipe with absolute paths."""
    path = pathlib.Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"Recipe not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: not valid TOML: {error}") from None
    # Overrides are merged into the file's values before anything is checked, so
    # that --set task=... picks its own table; their paths are relative to the cwd.
    overridden = set()
    for text in overrides:
        key_path, value = parse_override(text)
        cursor = values
        for key in key_path[:-1]:
            cursor = cursor.setdefault(key, {})
            if not isinstance(cursor, dict):
                raise RecipeError(f"--set {text!r}: {key} is not a table.")
        cursor[key_path[-1]] = value
        overridden.add(key_path)
    recipe = _build(str(path), values)
    base = path.resolve().parent
    for key_path in _PATH_KEYS:
        value = _get(recipe, key_path)
        folder = pathlib.Path.cwd() if key_path in overridden else base
        # A short checkpoint name is not a path: keep it unless there is one there.
        if value and (key_path != ("checkpoint",) or (folder / value).exists()):
            _set(recipe, key_path, str((folder / value).resolve()))
    _validate(recipe, str(path))
    if not recipe.output_dir:
        recipe.output_dir = str(pathlib.Path("runs", recipe.name).resolve())
    if not recipe.export.name:
        recipe.export.name = recipe.name
    if not recipe.training.eval_metric:
        recipe.training.eval_metric = (getattr(recipe.options, "default_eval_metric", None)
                                       or recipe.task_class.default_eval_metric)
    return recipe


def with_values(recipe, values, source):
    """A copy of `recipe` with {key path tuple: value} set, checked as a loaded recipe
    is; errors name `source` (e.g. "recipe.toml [search] trial 3")."""
    values_dict = recipe_to_dict(recipe)
    for path, value in values.items():
        cursor = values_dict
        for key in path[:-1]:
            cursor = cursor[key]
        cursor[path[-1]] = value
    changed = recipe_from_dict(values_dict, source=source)
    _validate(changed, source)
    return changed


def data_overrides(texts):
    """`--set data.KEY=VALUE` strings -> {KEY: value}: how a file to evaluate or predict
    may differ from the training data (other columns); any other key is an error."""
    values = {}
    for text in texts or ():
        path, value = parse_override(text)
        if path[0] != "data" or len(path) != 2:
            raise RecipeError(f"--set {text!r}: only data.* keys can be changed here.")
        values[path[1]] = value
    return values


def recipe_to_dict(recipe):
    """Plain values, as a TOML file would hold them (the task's table under its name).
    Infinite bounds are written as strings: JSON has no infinity."""
    values = {field.name: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
              for field in dataclasses.fields(recipe) if field.name not in ("source", "options")
              for value in [getattr(recipe, field.name)]}
    values[recipe.task] = {key: str(value) if isinstance(value, float) and math.isinf(value)
                           else value for key, value in dataclasses.asdict(recipe.options).items()}
    return values


def recipe_from_dict(values, source="recipe.json"):
    """The inverse of `recipe_to_dict` (a run directory's recipe.json)."""
    values = dict(values)
    task = values.get("task")
    if isinstance(values.get(task), dict):
        values[task] = {key: float(value) if value in ("inf", "-inf") else value
                        for key, value in values[task].items()}
    return _build(source, values)
