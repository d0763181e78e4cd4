"""Hyperparameter search (`tfbert search`, KerasTuner): two trials on a tiny model,
killed during the second and started again; the finished trial is not trained again,
the interrupted one resumes from its checkpoint, and the better trial is kept and
exported.

Bad input tried: a [search] key that is not a list, a value the recipe refuses (named
by its index), an empty [search], a head for a task without one, no dev set, and a
[search] table changed between a search and its resumption.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, write_tiny_checkpoint
from test_resume import Output, checkpoint_announced, committed_step, killed
from tfbert.cli import main
from tfbert.recipe import RecipeError, load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.search import run_search, trial_recipes

SIMILARITY = ROOT / "recipes" / "pair_similarity.toml"


@pytest.mark.parametrize("overrides, message", [
    (["search.learning_rate=5e-5"], "search.learning_rate must be a list of values to try"),
    (["search.epochs=[1, 1.5]"], "search.epochs[1] must be an integer, got 1.5"),
    (["search.max_trials=0"], "search.max_trials must be positive"),
    (["search.algorithm=hyperband"], "search.algorithm = 'hyperband' is not one of"),
])
def test_bad_search_tables(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(SIMILARITY, overrides)


@pytest.mark.parametrize("overrides, message", [
    ([], "[search] names no values to try"),
    (["search.learning_rate=[1e-4, 2.0]"],
     "(search.learning_rate[1] = 2.0): training.learning_rate must be in (0, 1), got 2.0"),
    (["search.head=[\"cls\", \"max\"]"], "search.head[1] = 'max'"),
    (["search.learning_rate=[1e-4]", "data.dev="], "a search needs data.dev"),
])
def test_search_values_are_checked_before_any_trial(overrides, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        trial_recipes(load_recipe(SIMILARITY, overrides))


def search_command(checkpoint, tmp_path, extra=()):
    return [sys.executable, "-m", "tfbert.cli", "search", str(SIMILARITY),
            "--set", f"checkpoint={checkpoint}", "--set", f"output_dir={tmp_path / 'run'}",
            "--set", f"export.dir={tmp_path / 'models'}", "--set", "training.epochs=2",
            "--set", "training.batch_size=8", "--set", "training.checkpoint_every=2",
            "--set", "training.patience=0", "--set", "data.max_train_examples=64",
            "--set", "search.algorithm=grid", "--set", "search.max_trials=2",
            "--set", "search.learning_rate=[3e-3, 1e-9]", *extra]


def test_search_resumes_after_a_kill_and_keeps_the_better_trial(tmp_path, capsys):
    text = (ROOT / "recipes" / "data" / "pair_similarity" / "train.tsv").read_text().lower()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sorted(set(re.findall(r"[a-z]+", text)))[:400])
    trials = tmp_path / "run" / "search" / "trials"
    env = {**os.environ, "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}
    process = subprocess.Popen(search_command(checkpoint, tmp_path), cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # trial 1 announces its first checkpoint (step 2 of 16): kill -9 then
        step = Output(process).wait_for(checkpoint_announced(trials / "1" / "resume"),
                                        "trial 1's first checkpoint")
    finally:
        killed(process)
    last = committed_step(trials / "1" / "resume")  # a later one may have been written before the kill
    assert 2 <= step <= last < 16
    first_finished = (trials / "0" / "finished.json").stat().st_mtime_ns
    assert not (trials / "1" / "finished.json").exists()

    # The command with another [search] table, in this process (its refusal comes before
    # any training): exit status 1 and the reason on stderr.
    assert main(search_command(checkpoint, tmp_path, ["--set", "search.max_trials=3"])[3:]) == 1
    assert "holds a search started with another [search] table" in capsys.readouterr().err

    # The same command again, in this process too: only the killed run needed its own.
    assert main(search_command(checkpoint, tmp_path)[3:]) == 0
    again = capsys.readouterr()
    resumed = re.search(r"resuming from step (\d+)/16", again.out)  # trial 1, where it was killed
    assert resumed and int(resumed.group(1)) == last, again.out[-3000:] + again.err[-3000:]
    assert (trials / "0" / "finished.json").stat().st_mtime_ns == first_finished  # not again

    rows = json.loads((tmp_path / "run" / "search" / "trials.json").read_text())
    assert [(row["trial"], row["status"], row["learning_rate"]) for row in rows] == [
        ("0", "COMPLETED", 3e-3), ("1", "COMPLETED", 1e-9)]
    scores = [row["dev_spearman"] for row in rows]
    assert scores[0] != scores[1]
    for row in rows:  # each score is its run's own dev result
        finished = json.loads((trials / row["trial"] / "finished.json").read_text())
        assert finished["dev"]["spearman"] == pytest.approx(row["dev_spearman"])
    best = json.loads((tmp_path / "run" / "search" / "best.json").read_text())
    better = rows[int(np.argmax(scores))]
    assert best["best_trial"] == better["trial"] and best["run"] == better["run"]
    assert (tmp_path / "run" / "search" / "trials.tsv").read_text().count("\n") == 3

    # The export is the better trial's model, not the other one's.
    import tensorflow as tf

    serve = tf.saved_model.load(best["export"]).signatures["serving_default"]
    first, second = ["a good film", "the cat sat"], ["a fine movie", "stocks fell today"]
    served = serve(text=tf.constant(first), text_pair=tf.constant(second))["score"].numpy()
    for row in rows:
        mine = RunDirectory(row["run"]).load_task().predict((first, second))["score"]
        assert np.allclose(served, mine, atol=1e-5) == (row is better)


def test_search_in_process_without_export(tmp_path):
    """run_search on a recipe object: one value, one trial, export off."""
    text = (ROOT / "recipes" / "data" / "pair_similarity" / "train.tsv").read_text().lower()
    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", sorted(set(re.findall(r"[a-z]+", text)))[:400])
    recipe = load_recipe(SIMILARITY, [
        f"checkpoint={checkpoint}", f"output_dir={tmp_path / 'run'}", "export.enabled=false",
        "training.epochs=1", "data.max_train_examples=32", "search.dropout=[0.2]"])
    best = run_search(recipe)
    assert best["values"] == {"dropout": 0.2} and best["export"] is None and best["trials"] == 1
    trial = RunDirectory(best["run"]).recipe()
    assert trial.training.dropout == 0.2 and not trial.export.enabled and not trial.training.baseline
