"""Reading a recipe's examples and turning their labels into a task's targets."""

import dataclasses

import numpy as np

from tfbert.data.labels import parse_scores
from tfbert.data.readers import read_examples


def read_split(recipe, path):
    data = recipe.data
    return read_examples(
        path,
        text_column=data.text_column or None,
        text_pair_column=data.text_pair_column or None,
        label_column=data.label_column or None,
        format=data.format or None,
    )


def model_inputs(recipe, examples):
    if recipe.is_pair:
        return (examples.texts, examples.text_pairs)
    return examples.texts


def encode_targets(recipe, task, examples, on_unknown="error"):
    """Targets of labelled examples; returns (targets, kept indices, skipped count)."""
    if recipe.task == "regression":
        return task.encode_targets(parse_scores(examples)), np.arange(len(examples)), 0
    targets, kept, skipped = task.label_vocabulary.encode(examples, on_unknown=on_unknown)
    return targets, np.asarray(kept), skipped


def first_examples(examples, count):
    """The first `count` examples (quick runs, benchmarks on a subset)."""
    return dataclasses.replace(
        examples,
        texts=examples.texts[:count],
        text_pairs=None if examples.text_pairs is None else examples.text_pairs[:count],
        labels=None if examples.labels is None else examples.labels[:count],
        line_numbers=examples.line_numbers[:count],
    )
