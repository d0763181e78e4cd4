"""Predicting a file of texts with a trained run: in this process, or by TF Serving.

Either way the answers are the task's named outputs (the dict `Task.predict` and the
served signature return), and the postprocessor's `prediction_rows` turns them into the
rows written, so the two paths cannot disagree on what a prediction means.
"""

import json

from tfbert.io.atomic_files import replacing
from tfbert.run_directory import RunDirectory
from tfbert.tasks.registry import answers_class_of, read_examples_of_kind


def predict_file(run_dir, input_path, output_path, batch_size=64, data_overrides=(),
                 server=None, protocol="grpc", model_name=None, timeout=30.0):
    """Writes one JSON line per example of `input_path` (its file line, text(s) and
    the prediction); returns how many. With `server` ("HOST:PORT"), TF Serving
    predicts (no model is loaded here); `model_name` defaults to the run's export."""
    run = RunDirectory(run_dir)
    recipe = run.recipe(data_overrides)
    kind, config = run.task_description()
    examples = read_examples_of_kind(kind, input_path, recipe.data, labels=False,
                                     section=recipe.options)
    if not len(examples):
        rows = []
    elif server:
        rows, answers = [], answers_class_of(kind)(config)
        for outputs in served_outputs(server, model_name or recipe.export.name or recipe.name,
                                      protocol, timeout, examples, batch_size):
            rows += answers.prediction_rows(outputs)
    else:
        task = run.load_task()
        rows = task.postprocessor.prediction_rows(task.predict(examples, batch_size=batch_size))
    # Whole or not at all: a run killed mid-write leaves the previous file, not half.
    with replacing(output_path) as temporary, open(temporary, "w", encoding="utf-8") as file:
        for i, row in enumerate(rows):
            line = {"line": examples.line_numbers[i], "text": examples.texts[i]}
            if examples.text_pairs is not None:
                line["text_pair"] = examples.text_pairs[i]
            file.write(json.dumps({**line, **row}, ensure_ascii=False) + "\n")
    return len(rows)


def served_outputs(address, model_name, protocol, timeout, examples, batch_size):
    """The served signature's outputs for each batch of examples, asked in turn (a
    batch's outputs may be wider than another's: a tagger's entities)."""
    from tfbert.serving import make_client

    client = make_client(address, model_name, protocol, timeout=timeout)
    parts = []
    for start in range(0, len(examples), batch_size):
        texts = examples.texts[start:start + batch_size]
        pairs = (None if examples.text_pairs is None
                 else examples.text_pairs[start:start + batch_size])
        parts.append(client.predict(texts, pairs))
    return parts
