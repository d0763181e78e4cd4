"""entity_spans (TF ops, in the served graph) reads the same entities from predicted tags
as tag_schemes.chunks (Python, conlleval's rules), on random and ill-formed sequences."""

import numpy as np
import pytest
import tensorflow as tf

from tfbert.data.entity_spans import chunk_tables, entity_spans
from tfbert.data.tag_schemes import chunks

TAG_SETS = {
    "iob2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-fromloc.city_name",
             "I-fromloc.city_name"],
    "bioes": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-ORG", "I-ORG", "E-ORG", "S-ORG"],
    "bmes": ["O", "B-NAME", "M-NAME", "E-NAME", "S-NAME", "B-ORG", "M-ORG", "E-ORG", "S-ORG"],
    # "O" need not come first, and a type may hold a dash.
    "shuffled": ["B-a-b", "I-X", "O", "E-X", "I-a-b", "S-X", "B-X", "M-X"],
    "only O": ["O"],
}


def random_rows(rng, num_tags, rows=40, max_words=12):
    lengths = rng.integers(0, max_words + 1, size=rows)
    lengths[rng.random(rows) < 0.2] = 0  # plenty of empty rows
    return [rng.integers(0, num_tags, size=n).tolist() for n in lengths]


def as_spans(tag_names, rows):
    types, first, last = (t.to_list() for t in entity_spans(
        tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1, inner_shape=()), tag_names))
    assert len(types) == len(first) == len(last) == len(rows)
    return [[(t.decode(), f, l + 1) for t, f, l in zip(*row)] for row in zip(types, first, last)]


def expected(tag_names, rows):
    return [chunks([tag_names[i] for i in row]) for row in rows]


@pytest.mark.parametrize("name", list(TAG_SETS))
def test_random_sequences_match_chunks(name):
    tag_names = TAG_SETS[name]
    rng = np.random.default_rng(len(name))
    for _ in range(5):
        rows = random_rows(rng, len(tag_names))
        assert as_spans(tag_names, rows) == expected(tag_names, rows)


@pytest.mark.parametrize("name", ["iob2", "bioes", "bmes"])
def test_every_pair_and_triple_of_tags(name):
    """All sequences of up to three tags: every ill-formed step is met."""
    tag_names = TAG_SETS[name]
    c = len(tag_names)
    rows = [[a] for a in range(c)] + [[a, b] for a in range(c) for b in range(c)]
    rows += [[a, b, d] for a in range(c) for b in range(c) for d in range(c)]
    assert as_spans(tag_names, rows) == expected(tag_names, rows)


def test_known_sentences():
    iob2 = TAG_SETS["iob2"]
    ids = {name: i for i, name in enumerate(iob2)}
    rows = [["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER"],  # I- after O starts one
            [], ["O", "O"], ["I-fromloc.city_name"]]
    spans = as_spans(iob2, [[ids[t] for t in row] for row in rows])
    assert spans == [[("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("PER", 6, 7)], [], [],
                     [("fromloc.city_name", 0, 1)]]
    bioes = TAG_SETS["bioes"]
    ids = {name: i for i, name in enumerate(bioes)}
    rows = [["B-PER", "E-PER", "S-ORG", "E-ORG", "B-ORG", "B-ORG", "I-ORG", "O"]]
    assert as_spans(bioes, [[ids[t] for t in row] for row in rows]) == [
        [("PER", 0, 2), ("ORG", 2, 3), ("ORG", 3, 4), ("ORG", 4, 5), ("ORG", 5, 7)]]


def test_empty_batches():
    for rows in ([], [[]], [[], [], []]):
        types, first, last = entity_spans(
            tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32),
                                             tf.zeros([len(rows)], tf.int64)), TAG_SETS["iob2"])
        assert types.to_list() == first.to_list() == last.to_list() == [[]] * len(rows)
        assert types.dtype == tf.string and first.dtype == last.dtype == tf.int32


def test_in_a_tf_function_with_unknown_shapes_and_int64_ids():
    tag_names = TAG_SETS["bmes"]
    spans_of = tf.function(lambda ids: entity_spans(ids, tag_names), input_signature=[
        tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int32)])
    rng = np.random.default_rng(3)
    for _ in range(3):
        rows = random_rows(rng, len(tag_names))
        ids = tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1, inner_shape=(),
                                 row_splits_dtype=tf.int32)
        types, first, last = (t.to_list() for t in spans_of(ids))
        got = [[(t.decode(), f, l + 1) for t, f, l in zip(*row)] for row in zip(types, first, last)]
        assert got == expected(tag_names, rows)


def test_chunk_tables_are_the_conlleval_steps():
    names = TAG_SETS["iob2"]
    starts, ends = chunk_tables(names)
    assert starts.shape == ends.shape == (len(names) + 1, len(names) + 1)
    index = {name: i for i, name in enumerate(names)}
    boundary = len(names)
    assert starts[boundary, index["I-PER"]]  # a sentence may start with I-
    assert not starts[index["B-PER"], index["I-PER"]]
    assert starts[index["B-LOC"], index["I-PER"]]  # a type change starts an entity
    assert ends[index["I-PER"], boundary] and ends[index["B-PER"], index["B-PER"]]
    assert not ends[index["B-PER"], index["I-PER"]] and not ends[index["O"], boundary]
    assert not starts[:, index["O"]].any() and not ends[index["O"], :].any()
