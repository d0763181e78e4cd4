"""Predicted tags -> entities, in TensorFlow ops (for the served graph).

`tag_schemes.chunks` reads entities from predicted tags as conlleval does, in Python.
Its rules decide at each word from two tags only (the previous one and this one)
whether an entity starts here and whether the previous word's entity ended. So they
fit in two [C + 1, C + 1] tables, built here by asking `chunks` itself about every
pair of tags (index C is the sentence boundary, read like "O"): the graph and the
Python metric cannot disagree on what an entity is.
"""

import numpy as np
import tensorflow as tf

from tfbert.data.tag_schemes import chunks, split_tag


def chunk_tables(tag_names):
    """(starts, ends): bool [C + 1, C + 1]. starts[p][c]: an entity starts at a word
    tagged c after one tagged p; ends[p][c]: the entity of a word tagged p ends there
    when the next is tagged c."""
    names = list(tag_names) + ["O"]
    size = len(names)
    starts = np.zeros([size, size], bool)
    ends = np.zeros([size, size], bool)
    for p in range(size):
        for c in range(size):
            for _, start, end in chunks([names[p], names[c]]):
                starts[p, c] |= start == 1
                ends[p, c] |= end == 1
    return starts, ends


def entity_types(tag_names):
    """The entity type each tag names ("" for O)."""
    return [split_tag(name)[1] or "" for name in tag_names]


def entity_spans(tag_ids, tag_names):
    """Entities of each sentence of predicted tags.

    Args:
      tag_ids: int RaggedTensor [B, (words)] of ids into tag_names.
      tag_names: the model's tags (a Python list).
    Returns:
      (types, first_word, last_word): RaggedTensors [B, (entities)]: each entity's
      type (tf.string) and the indices of its first and last word (int32, inclusive).
    """
    starts_table, ends_table = (tf.constant(table) for table in chunk_tables(tag_names))
    boundary = len(tag_names)
    tags = tf.cast(tag_ids, tf.int32).with_row_splits_dtype(tf.int64)
    row_starts = tags.row_starts()
    row_limits = tags.row_limits()
    flat = tags.flat_values                                                # [NW]
    positions = tf.range(tf.size(flat, out_type=tf.int64))
    first_in_row = tf.gather(row_starts, tags.value_rowids()) == positions
    last_in_row = tf.gather(row_limits, tags.value_rowids()) - 1 == positions
    previous = tf.where(first_in_row, boundary, tf.concat([[boundary], flat[:-1]], 0))
    following = tf.where(last_in_row, boundary, tf.concat([flat[1:], [boundary]], 0))
    is_start = tf.gather_nd(starts_table, tf.stack([previous, flat], axis=1))   # [NW]
    is_end = tf.gather_nd(ends_table, tf.stack([flat, following], axis=1))      # [NW]
    # Starts and ends alternate within each sentence, so the k-th start pairs with
    # the k-th end.
    start_at = tf.where(is_start)[:, 0]
    end_at = tf.where(is_end)[:, 0]
    rows = tf.gather(tags.value_rowids(), start_at)
    in_row = lambda at: tf.cast(at - tf.gather(row_starts, rows), tf.int32)
    types = tf.gather(tf.constant(entity_types(tag_names) or [""], tf.string),
                      tf.gather(flat, start_at))
    # rows ascend (starts are found in word order): valid by construction, so without
    # the shape checks (~500 ops of asserts in every traced and served graph).
    ragged = lambda values: tf.RaggedTensor.from_value_rowids(values, rows, nrows=tags.nrows(),
                                                              validate=False)
    return ragged(types), ragged(in_row(start_at)), ragged(in_row(end_at))
