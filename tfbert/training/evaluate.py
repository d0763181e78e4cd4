"""Scoring a task on labelled examples with scikit-learn, and the report files."""

import numpy as np

from tfbert import evaluation
from tfbert.training.examples import encode_targets, model_inputs


def evaluate_examples(recipe, task, examples, output_dir=None, on_unknown="error", batch_size=64):
    """Predicts `examples`, returns (metrics dict, printable summary).

    With `output_dir`, also writes metrics.json, predictions.jsonl and (for
    classifiers) the confusion matrix, via `tfbert.evaluation.write_report`.
    Examples whose label the model does not know raise an error naming the file and
    line, or with on_unknown="skip" are left out and counted in metrics["skipped"].
    """
    targets, kept, skipped = encode_targets(recipe, task, examples, on_unknown=on_unknown)
    texts = [examples.texts[i] for i in kept]
    pairs = None if examples.text_pairs is None else [examples.text_pairs[i] for i in kept]
    subset = type(examples)(texts=texts, text_pairs=pairs, labels=None, source=examples.source,
                            line_numbers=[examples.line_numbers[i] for i in kept])
    predicted = task.predict(model_inputs(recipe, subset), batch_size=batch_size)

    rows = []
    if recipe.task == "regression":
        kind = "regression"
        scores = np.asarray(predicted["scores"])
        metrics = evaluation.regression_metrics(targets[:, 0], scores)
        for i, index in enumerate(kept):
            rows.append(_row(examples, index, label=float(targets[i, 0]), predicted=float(scores[i])))
    elif task.multi_label:
        kind = "multilabel"
        present = np.zeros_like(targets, dtype=bool)
        for row, ids in enumerate(predicted["label_ids"]):
            present[row, ids] = True
        metrics = evaluation.multilabel_metrics(targets.astype(bool), present, task.label_names)
        for i, index in enumerate(kept):
            truth = [task.label_names[j] for j in np.flatnonzero(targets[i])]
            rows.append(_row(examples, index, label=truth, predicted=predicted["labels"][i],
                             correct=sorted(truth) == sorted(predicted["labels"][i]),
                             probabilities=_named(task.label_names, predicted["probabilities"][i])))
    else:
        kind = "classification"
        metrics = evaluation.classification_metrics(targets, predicted["label_ids"], task.label_names)
        for i, index in enumerate(kept):
            rows.append(_row(examples, index, label=task.label_names[targets[i]],
                             predicted=predicted["labels"][i],
                             correct=bool(targets[i] == predicted["label_ids"][i]),
                             probabilities=_named(task.label_names, predicted["probabilities"][i])))
    metrics["examples"] = len(kept)
    metrics["skipped"] = int(skipped)
    if skipped:
        print(f"  skipped {skipped} examples of {examples.source} with labels the model does not know")
    if output_dir is not None:
        evaluation.write_report(output_dir, metrics, rows, kind,
                                label_names=getattr(task, "label_names", None))
    return metrics, evaluation.format_metrics(metrics, kind)


def _named(names, values):
    return {name: round(float(v), 6) for name, v in zip(names, values)}


def _row(examples, index, **fields):
    row = {"line": examples.line_numbers[index], "text": examples.texts[index]}
    if examples.text_pairs is not None:
        row["text_pair"] = examples.text_pairs[index]
    row.update(fields)
    return row
