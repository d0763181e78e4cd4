"""Evaluating a trained run on a labelled file (`tfbert evaluate RUN --data F`)."""

import pathlib

from tfbert.evaluation.evaluate import evaluate_task
from tfbert.run_directory import RunDirectory


def evaluate_file(run_dir, data_path, output_dir=None, on_unknown="error", data_overrides=()):
    """`evaluate_task` of a trained run on a labelled file read with the run's recipe
    (data.* overrides for other columns); the report goes to RUN/eval by default.
    Returns (metrics, summary text, report directory)."""
    run = RunDirectory(run_dir)
    recipe = run.recipe(data_overrides)
    task = run.load_task()
    examples = recipe.read_examples(data_path)
    output_dir = pathlib.Path(output_dir or run.path / "eval")
    metrics, summary = evaluate_task(task, examples, output_dir, on_unknown=on_unknown)
    return metrics, summary, output_dir
