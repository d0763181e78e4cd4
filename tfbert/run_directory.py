"""What a training run writes, and reads back: one place for the run directory.

    runs/<name>/
      recipe.json            the recipe as run (after --set overrides)
      task.json              the task's kind and plain settings (label names, ...): what
                             turns answers from TF Serving into rows without the model
      resume/                model + optimizer every `checkpoint_every` steps (while
                             training: removed when the run finishes)
      dev_state.json         the best dev metric so far (resumed with the run)
      best.weights.h5        weights at the best dev metric (while training)
      model.keras            the best model, for `tfbert evaluate` / `predict` / `export`
                             (no optimizer state unless training.keep_optimizer_state)
      logs/                  TensorBoard
      eval_dev/, eval_test/  metrics.json, predictions.jsonl, confusion matrix
      baseline/metrics.json  the bag-of-words baseline on the same splits (tfbert/evaluation/baseline.py)
      finished.json          written last: the run is complete

A directory holding finished.json is not trained again unless asked (`--force`); one
holding a resume checkpoint continues only the recipe that made it; a directory that
holds anything else is not a run directory and is refused, so that a recipe never
writes over files that are not its own.
"""

import contextlib
import datetime
import json
import pathlib
import shutil

from tfbert.io.atomic_files import replacing, write_atomically
from tfbert.recipe import data_overrides as recipe_data_overrides, recipe_from_dict, recipe_to_dict

# Keys that may change between an interrupted run and its resumption: they do not
# change what training computes.
# The global batch, not the devices, fixes the batches and the steps: a run may resume
# on other hardware (one device -> several workers) and go on exactly as it would have.
RESUME_MAY_CHANGE = {"export", "search", "data.test", "training.checkpoint_every",
                     "training.keep_optimizer_state", "training.baseline",
                     "training.distribute", "training.worker_timeout", "training.collective"}


class RunDirectory:
    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.recipe_file = self.path / "recipe.json"
        self.task_file = self.path / "task.json"
        self.resume_dir = self.path / "resume"
        self.dev_state_file = self.path / "dev_state.json"
        self.best_weights_file = self.path / "best.weights.h5"
        self.model_file = self.path / "model.keras"
        self.logs_dir = self.path / "logs"
        self.finished_file = self.path / "finished.json"

    def evaluation_dir(self, split):
        return self.path / f"eval_{split}"

    # ------------------------------------------------------------ while training

    def start(self, recipe, force=False):
        """Makes the directory and records the recipe; refuses to mix two trainings,
        to train over a finished run (unless `force`: it is removed first) and to
        write into a directory that is not a run's."""
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"output_dir {self.path} is a file, not a directory.")
        if self.path.is_dir() and any(self.path.iterdir()):
            if not self.recipe_file.exists():
                raise FileExistsError(
                    f"output_dir {self.path} is not empty and is not a tfbert run directory "
                    f"(no recipe.json): choose a new or empty directory (--set output_dir=...)."
                )
            if force:
                shutil.rmtree(self.path)
            elif self.finished_file.exists():
                raise FileExistsError(
                    f"{self.path} holds a finished run (its model: {self.model_file}). To train "
                    f"again, add --force (replaces this run) or choose another directory "
                    f"(--set output_dir=...)."
                )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.check_resumable(recipe)
            write_atomically(self.recipe_file, json.dumps(recipe_to_dict(recipe), indent=2))
        except OSError as error:  # a file where a parent should be, no permission, ...
            raise ValueError(f"cannot write the run directory {self.path}: "
                             f"{error.strerror or error} ({error.filename or self.path}).") from None

    def check_resumable(self, recipe):
        """A run directory with a resume checkpoint continues only the same recipe;
        anything else would silently mix two trainings."""
        if not self.recipe_file.exists() or not any(self.resume_dir.glob("ckpt-*")):
            return
        before = _flatten(json.loads(self.recipe_file.read_text()))
        now = _flatten(recipe_to_dict(recipe))
        changed = [key for key in sorted(set(before) | set(now))
                   if before.get(key) != now.get(key)
                   and key not in RESUME_MAY_CHANGE and key.split(".")[0] not in RESUME_MAY_CHANGE]
        if changed:
            details = "; ".join(f"{key}: {before.get(key)!r} -> {now.get(key)!r}" for key in changed)
            raise ValueError(
                f"{self.path} holds an interrupted run of a different recipe ({details}). "
                f"Resume with the same recipe, or choose another output_dir (or delete "
                f"{self.resume_dir}) to start afresh."
            )

    def dev_state(self):
        """What the dev evaluation wrote at its last epoch end ({} before any):
        best, epoch, best_epoch, stopped_early."""
        if not self.dev_state_file.exists():
            return {}
        return json.loads(self.dev_state_file.read_text())

    def save_task(self, task, keep_optimizer_state=False):
        """model.keras (and task.json), written whole and renamed into place; without
        the optimizer's state (as large as the weights, twice over for Adam) unless
        `keep_optimizer_state`: a finished run is evaluated, exported or fine-tuned
        afresh, none of which reads it."""
        with replacing(self.model_file) as temporary, _without_optimizer(task, keep_optimizer_state):
            task.save(str(temporary))
        write_atomically(self.task_file, json.dumps(
            {"task": task.task_name, "config": task.plain_config()}, indent=2))

    def finish(self, result):
        """Marks the run complete (finished.json, written last), then removes what only
        an unfinished run needs: the resume checkpoints and the best-weights file
        (model.keras holds those weights)."""
        summary = {key: value for key, value in result.items() if key != "output_dir"}
        write_atomically(self.finished_file, json.dumps(
            {"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             **summary}, indent=2, default=str))
        shutil.rmtree(self.resume_dir, ignore_errors=True)
        self.best_weights_file.unlink(missing_ok=True)

    # ----------------------------------------------------------- after training

    def require(self, file):
        if not file.exists():
            raise FileNotFoundError(f"{self.path} is not a training run: no {file.name} "
                                    "(made by `tfbert train`).")

    def recipe(self, data_overrides=()):
        """The recipe of the run, with data.* overrides (`KEY=VALUE` strings): a file to
        evaluate or predict may have other columns than the training data."""
        self.require(self.recipe_file)
        values = json.loads(self.recipe_file.read_text())
        values["data"].update(recipe_data_overrides(data_overrides))
        return recipe_from_dict(values, source=str(self.recipe_file))

    def load_task(self):
        """The trained task (the best weights), as `keras.models.load_model` restores it."""
        import keras

        from tfbert.tasks.registry import task_class

        self.require(self.model_file)
        self.require(self.task_file)
        # Importing the task's module registers its class with Keras' deserializer.
        task_class(self.task_description()[0])
        return keras.models.load_model(self.model_file)

    def task_description(self):
        """(task kind, its plain config) without loading the model."""
        self.require(self.task_file)
        description = json.loads(self.task_file.read_text())
        return description["task"], description["config"]


@contextlib.contextmanager
def _without_optimizer(model, keep):
    """Keras' .keras format saves whatever optimizer the model holds: hide it."""
    optimizer = getattr(model, "optimizer", None)
    if keep or optimizer is None:
        yield
        return
    model.optimizer = None
    try:
        yield
    finally:
        model.optimizer = optimizer


def _flatten(values, prefix=""):
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def export_run(run_dir, base_dir=None, name=None, version=None, overwrite=False,
               compute_dtype="float32", jit_compile=None, explain=None):
    """Exports the trained model of a run directory; the base directory, name,
    jit_compile and explain default to the run's recipe (its [export] table: name,
    dir, xla, explain and explain_steps)."""
    from tfbert.export import export_for_serving

    run = RunDirectory(run_dir)
    recipe = run.recipe()
    if explain is not None:
        recipe.export.explain = explain
    return export_for_serving(run.load_task(), base_dir or recipe.export.dir,
                              name or recipe.export.name or recipe.name, version=version,
                              overwrite=overwrite, compute_dtype=compute_dtype,
                              jit_compile=recipe.export.xla if jit_compile is None
                              else jit_compile, explain_steps=explain_steps(recipe))


def explain_steps(recipe):
    """The export's `explain_steps` argument from a recipe's [export] table: None
    unless export.explain is on."""
    return recipe.export.explain_steps if recipe.export.explain else None
