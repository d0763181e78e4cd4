"""Running a task over labelled examples and writing what it got right and wrong.

`metrics.py` scores arrays; this module runs the model to get them: it encodes the
examples' labels with the task's preprocessor, predicts, asks its postprocessor for
the metrics and per-example rows, and writes the report files (`report.py`). It knows tasks only
through their methods, so it sits below `tfbert.tasks`.
"""

from tfbert.evaluation.report import format_summary, write_report


def evaluate_task(task, examples, output_dir=None, on_unknown="error", batch_size=64):
    """Predicts `examples` (a TextExamples with labels); returns (metrics, summary text).

    With `output_dir`, writes metrics.json, predictions.jsonl (file line, text,
    truth, prediction) and, for classifiers, the confusion matrix. Examples whose
    label the model does not know raise an error naming the file and line, or with
    on_unknown="skip" are left out and counted in metrics["skipped"].
    """
    data = task.tokenize(examples, on_unknown=on_unknown)
    if not len(data):
        raise ValueError(f"{examples.source}: no examples to evaluate"
                         f"{f' ({data.skipped} skipped for unknown labels)' if data.skipped else ''}.")
    outputs = task.predict(data, batch_size=batch_size)
    metrics, fields = task.postprocessor.score_outputs(data.targets, outputs)
    metrics["examples"] = len(data.examples)  # sentences, not the windows of a tagger
    metrics["skipped"] = int(data.skipped)
    if data.skipped:
        print(f"  skipped {data.skipped} examples of {examples.source} with labels the model "
              "does not know")
    if output_dir is not None:
        kept = data.examples
        rows = []
        for i, row_fields in enumerate(fields):
            row = {"line": kept.line_numbers[i], "text": kept.texts[i]}
            if kept.text_pairs is not None:
                row["text_pair"] = kept.text_pairs[i]
            rows.append({**row, **row_fields})
        write_report(output_dir, metrics, rows)
    return metrics, format_summary(task.postprocessor.metric_summary(metrics), metrics)
