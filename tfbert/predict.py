"""Predicting files of texts with a trained run or an export: in this process, or by
TF Serving.

    tfbert predict RUN_OR_EXPORT --input 'texts/*.tsv' --output preds.jsonl.gz
        [--shards 4] [--top-k K] [--on-error skip] [--force] [--quiet] [--server HOST:PORT]

A run is read as it was trained (its recipe's columns and reader, its Keras model); an
export (a version folder, or a model folder: its newest version) is asked as TF Serving
would ask it, with texts from the "text" (and "text_pair") column of TSV, CSV or JSON
lines (`--set data.text_column=...` to change), whatever its task kind.

Inputs are read in windows (`tfbert.data.streaming`), each window predicted and its
rows written before the next is read: memory holds one window, whatever the size of
the input. A killed run started again with the same command goes on after the last
window written whole (`tfbert.io.resumable_output`); `--force` starts over.

Either way the answers are the task's named outputs (the dict `Task.predict` and the
served signature return), and the postprocessor's `prediction_rows` turns them into
the rows written, so the two paths cannot disagree on what a prediction means.
"""

import json
import os
import sys
import time

from tfbert.data.streaming import (can_stream, count_lines, expand_inputs, file_identity,
                                   open_binary, stream_examples, windows_of)
from tfbert.io.resumable_output import ResumableOutput
from tfbert.recipe import data_overrides as recipe_data_overrides, recipe_from_dict
from tfbert.run_directory import RunDirectory
from tfbert.serving.exports import export_version, task_description
from tfbert.tasks.registry import answers_class_of, read_examples_of_kind

# Rows per window: long enough for length sorting to pay, short enough that a resumed
# run redoes little (each window is synced to disk before its progress is recorded).
WINDOW_BATCHES = 64


def predict_files(run_dir, inputs, output_path, batch_size=64, data_overrides=(), server=None,
                  protocol="grpc", model_name=None, timeout=30.0, top_k=None, shards=1,
                  on_error="error", force=False, progress=None, log=print):
    """Writes one JSON line per example of the `inputs` (paths or globs: its file, line,
    text(s) and prediction) to `output_path` (a `.gz` name: gzip; `shards` > 1: that
    many files). `run_dir`: a run directory or an export. With `server` ("HOST:PORT"),
    TF Serving predicts (no model is loaded here); `model_name` defaults to the run's
    export (an export's: its model folder's name). Returns the output's record: rows,
    rejected, resumed_from (rows an earlier run had written), seconds (predicting and
    writing, after the model is loaded), files, rejects."""
    if on_error not in ("error", "skip"):
        raise ValueError(f"--on-error must be error or skip; got {on_error!r}.")
    if top_k is not None and top_k < 1:
        raise ValueError(f"--top-k must be 1 or more, got {top_k}.")
    export = export_version(run_dir)
    if export is not None:
        kind, config = task_description(export)
        recipe = export_recipe(kind, config, data_overrides)
        model_file, served_name = export / "saved_model.pb", export.parent.name
    else:
        run = RunDirectory(run_dir)
        if not run.recipe_file.exists():
            raise FileNotFoundError(
                f"{run_dir} is neither a training run (no recipe.json: made by `tfbert "
                "train`) nor an export (no saved_model.pb in it or in a numbered version "
                "folder: made by `tfbert export`).")
        recipe = run.recipe(data_overrides)
        kind, config = run.task_description()
        model_file, served_name = run.model_file, recipe.export.name or recipe.name
    paths = expand_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    answers = answers_class_of(kind)(config)
    top_k = answers.default_top_k() if top_k is None else top_k
    window = batch_size * WINDOW_BATCHES
    output = ResumableOutput(output_path, shards, identity={
        "run": os.path.realpath(run_dir),
        "model": file_identity(model_file) if model_file.exists() else None,
        "server": server, "model_name": model_name, "data": list(data_overrides or ()),
        "inputs": [[str(path), *file_identity(path)] for path in paths],
        "top_k": top_k, "on_error": on_error, "window": window})
    state = output.resume(force=force)
    if state and state["finished"]:
        log(f"{output.path}: already complete ({state['rows']} rows; --force writes it again)")
        return _summary(output, state["rows"], 0.0)
    resumed_from = state["rows"] if state else 0
    if state and state["position"]:
        file_index, line = state["position"]
        log(f"resuming: {resumed_from} rows were written whole by an earlier run; going on "
            f"after {paths[file_index]} line {line} (no row is written twice)")
    else:
        file_index, line = 0, 0

    if server:
        from tfbert.serving import make_client

        client = make_client(server, model_name or served_name, protocol, timeout=timeout)
        rows_of = _client_rows(client, batch_size, answers, top_k)
    elif export is not None:
        from tfbert.serving.local_client import LocalClient

        rows_of = _client_rows(LocalClient(export), batch_size, answers, top_k)
    else:
        task = run.load_task()
        rows_of = lambda examples: task.postprocessor.prediction_rows(  # noqa: E731
            task.predict(examples, batch_size=batch_size), top_k=top_k)

    bar = _progress_bar(paths, file_index, line, progress)
    started = time.monotonic()
    for index in range(file_index, len(paths)):
        after = line if index == file_index else 0
        for examples, rejects, last in input_windows(kind, paths[index], recipe, window, on_error,
                                                     after):
            lines = []
            if len(examples):
                lines = [_line(examples, i, row) for i, row in enumerate(rows_of(examples))]
            output.write_window(lines, [json.dumps(
                {"source": r.source, "line": r.line, "reason": r.reason}, ensure_ascii=False)
                for r in rejects], [index, last])
            if bar:
                bar.update(last - after)
                after = last
            else:  # a log, not a terminal: one line per window written whole
                log(f"window {output.state['windows']}: {output.state['rows']} rows written, "
                    f"read to {paths[index]} line {last}")
    if bar:
        bar.close()
    output.finish()
    written, seconds = output.state["rows"] - resumed_from, time.monotonic() - started
    log(f"wrote {written} rows in {seconds:.1f} s"
        + (f" ({output.state['rows']} in all with the {resumed_from} of the earlier run)"
           if resumed_from else ""))
    if output.state["rejected"]:
        log(f"{output.state['rejected']} malformed rows set aside in {output.rejects_file}")
    return _summary(output, resumed_from, seconds)


def _summary(output, resumed_from, seconds):
    return {"rows": output.state["rows"], "rejected": output.state["rejected"],
            "resumed_from": resumed_from, "seconds": seconds,
            "files": [str(p) for p in output.files],
            "rejects": str(output.rejects_file) if output.state["rejected"] else None}


def input_windows(kind, path, recipe, size, on_error="error", after_line=0,
                  open_binary=open_binary):
    """(examples, rejected rows, last line read) of one input, window by window, as the
    run's task kind reads it: a text kind's TSV, CSV or JSON lines streamed (opened by
    `open_binary`); anything else (folders, a tagger's CoNLL) read whole, then cut."""
    section = recipe.options
    text_columns = not hasattr(section, "read_examples") or getattr(section, "reads_text_columns", False)
    if text_columns and can_stream(path, recipe.data.format or None):
        columns = {"text": recipe.data.text_column}
        if recipe.data.text_pair_column:
            columns["text_pair"] = recipe.data.text_pair_column
        return stream_examples(path, columns, recipe.data.format or None, size, on_error,
                               after_line, open_binary=open_binary)
    # Read whole by the kind's reader: a bad row is an error here, whatever on_error.
    examples = read_examples_of_kind(kind, path, recipe.data, labels=False, section=section)
    return windows_of(examples, size, after_line)


def _line(examples, i, row):
    line = {"source": examples.source, "line": examples.line_numbers[i], "text": examples.texts[i]}
    if examples.text_pairs is not None:
        line["text_pair"] = examples.text_pairs[i]
    return json.dumps({**line, **row}, ensure_ascii=False)


def export_recipe(kind, config, data_overrides=()):
    """How an export's inputs are read: text columns ("text", and "text_pair" for a
    pair task), whatever the kind (its served signature takes raw text); data.*
    overrides as for a run."""
    data = {"text_pair_column": "text_pair"} if config.get("pair") else {}
    data.update(recipe_data_overrides(data_overrides))
    recipe = recipe_from_dict({"task": kind, "data": data}, source="--set")
    recipe.options = None  # the kind's own reader (a tagger's CoNLL) is not used
    return recipe


def _client_rows(client, batch_size, answers, top_k):
    """A function of a window's examples -> their rows, from the signature's outputs
    (TF Serving's, or an export's loaded here), asked batch by batch (each batch's
    outputs become rows on their own: a batch's entities may be wider than another's)."""

    def rows_of(examples):
        rows = []
        for start in range(0, len(examples), batch_size):
            texts = examples.texts[start:start + batch_size]
            pairs = (None if examples.text_pairs is None
                     else examples.text_pairs[start:start + batch_size])
            rows += answers.prediction_rows(client.predict(texts, pairs), top_k=top_k)
        return rows

    return rows_of


def _progress_bar(paths, file_index, line, progress):
    """A tqdm bar of input lines (rows/s, time left) on a terminal, else None."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm import tqdm

    total = sum(count_lines(path) for path in paths)
    done = sum(count_lines(path) for path in paths[:file_index]) + line
    return tqdm(total=total, initial=done, unit=" lines", dynamic_ncols=True, file=sys.stderr)
