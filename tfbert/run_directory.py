"""What a training run writes, and reads back: one place for the run directory.

    runs/<name>/
      recipe.json            the recipe as run (after --set overrides)
      task.json              the task's kind and plain settings (label names, ...): what
                             turns answers from TF Serving into rows without the model
      resume/                model + optimizer every `checkpoint_every` steps
      dev_state.json         the best dev metric so far (resumed with the run)
      best.weights.h5        weights at the best dev metric
      model.keras            the best model, for `tfbert evaluate` / `predict` / `export`
      logs/                  TensorBoard
      eval_dev/, eval_test/  metrics.json, predictions.jsonl, confusion matrix
"""

import json
import pathlib

from tfbert.recipe import RecipeError, parse_override, recipe_from_dict, recipe_to_dict

# Keys that may change between an interrupted run and its resumption: they do not
# change what training computes.
RESUME_MAY_CHANGE = {"export", "data.test", "training.checkpoint_every"}


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

    def evaluation_dir(self, split):
        return self.path / f"eval_{split}"

    # ------------------------------------------------------------ while training

    def start(self, recipe):
        """Makes the directory and records the recipe; refuses to mix two trainings."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.check_resumable(recipe)
        self.recipe_file.write_text(json.dumps(recipe_to_dict(recipe), indent=2))

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

    def best_dev_metric(self):
        if not self.dev_state_file.exists():
            return None
        return json.loads(self.dev_state_file.read_text())["best"]

    def save_task(self, task):
        task.save(str(self.model_file))
        self.task_file.write_text(json.dumps({"task": task.task_name, "config": task.plain_config()},
                                             indent=2))

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
        for text in data_overrides or ():
            path, value = parse_override(text)
            if path[0] != "data" or len(path) != 2:
                raise RecipeError(f"--set {text!r}: only data.* keys can be changed here.")
            values["data"][path[1]] = value
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


def _flatten(values, prefix=""):
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
