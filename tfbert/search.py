"""Hyperparameter search: KerasTuner trials of a recipe, each a whole `tfbert train` run.

    tfbert search RECIPE.toml [--set KEY=VALUE ...] [--force]

The recipe's [search] table names the values to try (`recipe.SearchSection`) and the
trial budget; KerasTuner's oracle (random, Bayesian or grid) picks each trial's
values and keeps the search's state. Every trial is an ordinary run directory, so
it is trained, resumed after a kill and scored as `tfbert train` would:

    runs/<name>/search/
      search.json            the [search] table the search was started with
      tuner/                 KerasTuner's own state (oracle.json, trial_*/trial.json)
      trials/<id>/           each trial's run directory (no export, no baseline)
      trials.tsv, trials.json  every trial: its values, dev metric, status
      best.json              the best trial and where its run and export are

Why KerasTuner and not a loop of our own: its oracles (and the Bayesian one in
particular) are the Keras project's, and it already resumes: started again, the
search reloads its state and hands the interrupted trial out again, whose run
directory then resumes from its last checkpoint. A trial that fails is recorded as
failed (its error in trials.tsv) and the search goes on, as KerasTuner does.

The best trial is the one with the highest dev `training.eval_metric`; its run stays
where it is and is exported (when export.enabled) as `tfbert train` would export it.
"""

import csv
import json
import pathlib
import shutil

import keras_tuner
from keras_tuner.engine.base_tuner import BaseTuner

from tfbert.io.atomic_files import write_atomically
from tfbert.recipe import RecipeError, recipe_to_dict, with_values
from tfbert.run_directory import RunDirectory


def search_directory(recipe):
    return pathlib.Path(recipe.output_dir) / "search"


def trial_recipes(recipe):
    """Every value of [search], checked on a copy of the recipe before any trial runs,
    so a bad value fails now and names its key, not hours later."""
    searched = recipe.search.searched()
    if not searched:
        raise RecipeError(f"{recipe.source}: [search] names no values to try; e.g. "
                          "learning_rate = [5e-5, 1e-4] (keys: learning_rate, "
                          "head_learning_rate, epochs, batch_size, dropout, head).")
    if not recipe.data.dev:
        raise RecipeError(f"{recipe.source}: a search needs data.dev (its objective is the dev "
                          f"{recipe.training.eval_metric}).")
    for key, values in searched.items():
        for i, value in enumerate(values):
            trial_recipe(recipe, {key: value}, f"search.{key}[{i}] = {value!r}", "check")
    return searched


def trial_recipe(recipe, values, source, trial_id):
    """The recipe of one trial: the searched values set, its own run directory, and no
    export or baseline (the search exports its best run once)."""
    paths = {(recipe.task, "head") if key == "head" else ("training", key): value
             for key, value in values.items()}
    paths.update({("output_dir",): str(search_directory(recipe) / "trials" / trial_id),
                  ("export", "enabled"): False, ("training", "baseline"): False})
    return with_values(recipe, paths, f"{recipe.source} ({source})")


def run_search(recipe, force=False):
    """Runs (or resumes) the search of `recipe`; returns best.json's contents."""
    searched = trial_recipes(recipe)
    folder = search_directory(recipe)
    state_file = folder / "search.json"
    started_with = {"search": recipe_to_dict(recipe)["search"], "task": recipe.task}
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    if state_file.exists() and json.loads(state_file.read_text()) != started_with:
        raise ValueError(f"{folder} holds a search started with another [search] table "
                         f"({json.loads(state_file.read_text())['search']}); run it with that "
                         "table to resume it, or add --force to start afresh.")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(state_file, json.dumps(started_with, indent=2))

    space = keras_tuner.HyperParameters()
    for key, values in searched.items():
        space.Choice(key, values)
    objective = keras_tuner.Objective(f"dev_{recipe.training.eval_metric}", direction="max")
    oracle_class = {"random": keras_tuner.oracles.RandomSearchOracle,
                    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
                    "grid": keras_tuner.oracles.GridSearchOracle}[recipe.search.algorithm]
    oracle = oracle_class(objective=objective, max_trials=recipe.search.max_trials,
                          hyperparameters=space, seed=recipe.training.seed,
                          max_consecutive_failed_trials=recipe.search.max_trials)
    tuner = RecipeTuner(recipe, oracle, directory=str(folder), project_name="tuner")
    tuner.search()
    return write_results(recipe, tuner)


class RecipeTuner(BaseTuner):
    """A KerasTuner tuner whose trial is a `tfbert train` run of the recipe."""

    def __init__(self, recipe, oracle, directory, project_name):
        self.recipe = recipe
        super().__init__(oracle=oracle, directory=directory, project_name=project_name,
                         overwrite=False)

    def run_trial(self, trial):
        from tfbert.train import train

        values = dict(trial.hyperparameters.values)
        described = ", ".join(f"{key} = {value!r}" for key, value in values.items())
        recipe = trial_recipe(self.recipe, values, f"[search] trial {trial.trial_id}: {described}",
                              trial.trial_id)
        run = RunDirectory(recipe.output_dir)
        print(f"\n=== search trial {trial.trial_id}: {described} -> {recipe.output_dir}", flush=True)
        if run.finished_file.exists():  # finished before the search was stopped: not again
            result = json.loads(run.finished_file.read_text())
        else:
            result = train(recipe)
        value = result["dev"][self.recipe.training.eval_metric]
        if value is None:
            raise ValueError(f"trial {trial.trial_id}: dev {self.recipe.training.eval_metric} is "
                             "undefined (see its eval_dev/metrics.json).")
        return {f"dev_{self.recipe.training.eval_metric}": float(value)}

    # A trial's model lives in its run directory; KerasTuner keeps none of its own.
    def save_model(self, trial_id, model, step=0):
        pass

    def load_model(self, trial):
        return RunDirectory(search_directory(self.recipe) / "trials" / trial.trial_id).load_task()


def write_results(recipe, tuner):
    """trials.tsv / trials.json (every trial) and best.json; exports the best run."""
    from tfbert.export import export_for_serving

    folder = search_directory(recipe)
    metric = recipe.training.eval_metric
    keys = list(recipe.search.searched())
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        error = (trial.message or "").strip().splitlines()[-1:] if trial.message else []
        rows.append({"trial": trial_id, "status": str(trial.status),
                     **{key: trial.hyperparameters.values.get(key) for key in keys},
                     f"dev_{metric}": trial.score, "run": str(folder / "trials" / trial_id),
                     "error": error[0] if error else ""})
    write_atomically(folder / "trials.json", json.dumps(rows, indent=2))
    with open(folder / "trials.tsv.tmp", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trial"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    (folder / "trials.tsv.tmp").replace(folder / "trials.tsv")

    scored = [row for row in rows if row[f"dev_{metric}"] is not None]
    if not scored:
        raise RuntimeError(f"no trial of the search finished; see {folder / 'trials.tsv'} "
                           "for each trial's error.")
    best = max(scored, key=lambda row: row[f"dev_{metric}"])
    summary = {"best_trial": best["trial"], "values": {key: best[key] for key in keys},
               f"dev_{metric}": best[f"dev_{metric}"], "run": best["run"], "trials": len(rows),
               "export": None}
    if recipe.export.enabled:
        task = RunDirectory(best["run"]).load_task()
        summary["export"] = str(export_for_serving(task, recipe.export.dir, recipe.export.name,
                                                   compute_dtype=recipe.export.compute_dtype,
                                                   jit_compile=recipe.export.xla))
    write_atomically(folder / "best.json", json.dumps(summary, indent=2))
    print(f"\n{len(rows)} trials (table: {folder / 'trials.tsv'})")
    for row in rows:
        score = row[f"dev_{metric}"]
        print(f"  trial {row['trial']}  {'-' if score is None else f'{score:.4f}'}  "
              + ", ".join(f"{key} = {row[key]}" for key in keys)
              + ("" if score is not None else f"  ({row['status']}: {row['error']})"))
    print(f"best: trial {best['trial']}, dev {metric} {best[f'dev_{metric}']:.4f}, run {best['run']}"
          + (f", exported {summary['export']}" if summary["export"] else ""))
    return summary
