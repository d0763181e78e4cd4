"""The inference engine: rows sorted by length, run in chunks, back in input order."""

import numpy as np
import pytest
import tensorflow as tf

from tfbert.inference.engine import run_by_length, used_lengths


def outputs_sorted_by_length(fn, features, specs, chunk_size):
    """The engine over padded token features, as the export's predict_ids runs it."""
    return run_by_length(lambda chunk, longest: fn({k: v[:, :longest] for k, v in chunk.items()}),
                         features, used_lengths(features["input_mask"]), specs, chunk_size)


def padded_batch(lengths, width=None):
    """input_ids 1..n per row (0 after), mask 1 on the used part."""
    width = width or max(lengths)
    ids = np.zeros((len(lengths), width), np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = np.arange(1, length + 1) + 100 * row
    return {"input_ids": tf.constant(ids), "segment_ids": tf.zeros_like(ids),
            "input_mask": tf.constant((ids > 0).astype(np.int32))}


def recording_fn(widths):
    """A stand-in model: per row [sum of ids, first id]; records each chunk's shape."""
    def fn(chunk):
        widths.append(tuple(chunk["input_ids"].shape))
        ids = tf.cast(chunk["input_ids"], tf.float32)
        return tf.stack([tf.reduce_sum(ids, axis=1), ids[:, 0]], axis=1)
    return fn


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 16])
def test_rows_come_back_in_request_order(chunk_size):
    lengths = [5, 2, 9, 3, 3, 7, 1, 4, 8, 2]
    features = padded_batch(lengths)
    widths = []
    got = outputs_sorted_by_length(recording_fn(widths), features, (tf.float32, [2]), chunk_size).numpy()
    expected = recording_fn([])(features).numpy()
    np.testing.assert_array_equal(got, expected)
    # Every chunk is cut to its own longest row: the chunks' widths are the sorted
    # lengths' maxima, never the request's 9 unless the chunk holds the 9.
    ordered = sorted(lengths)
    chunks = [ordered[i:i + chunk_size] for i in range(0, len(ordered), chunk_size)]
    assert widths == [(len(chunk), max(chunk)) for chunk in chunks]


def test_inside_a_graph_with_dynamic_batch_and_length():
    spec = {name: tf.TensorSpec([None, None], tf.int32)
            for name in ("input_ids", "segment_ids", "input_mask")}
    fn = tf.function(lambda features: outputs_sorted_by_length(
        recording_fn([]), features, (tf.float32, [2]), chunk_size=4), input_signature=[spec])
    for lengths in ([3], [4, 1, 6, 2, 2], [7] * 9):
        features = padded_batch(lengths, width=max(lengths) + 3)  # extra padding columns
        np.testing.assert_array_equal(fn(features).numpy(), recording_fn([])(features).numpy())


def test_mask_with_holes_keeps_every_real_token():
    # A predict_ids client may mask tokens in the middle; the cut is after the last 1.
    mask = tf.constant([[1, 0, 0, 1, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    assert used_lengths(mask).numpy().tolist() == [4, 2, 0]


def test_a_row_of_only_padding_still_gets_one_position():
    features = padded_batch([0, 3])
    widths = []
    got = outputs_sorted_by_length(recording_fn(widths), features, (tf.float32, [2]), chunk_size=1).numpy()
    assert widths == [(1, 1), (1, 3)]
    assert got.shape == (2, 2)


def test_a_nest_of_outputs_comes_back_whole():
    """A model with several outputs (a dict, rows of different shapes) is stitched
    back output by output, each in request order."""
    lengths = [4, 1, 6, 2, 2]
    features = padded_batch(lengths)

    def two_outputs(chunk):
        ids = tf.cast(chunk["input_ids"], tf.float32)
        return {"first": ids[:, 0], "sums": tf.stack([tf.reduce_sum(ids, 1)] * 3, axis=1)}

    shapes = {"first": (tf.float32, []), "sums": (tf.float32, [3])}
    got = outputs_sorted_by_length(two_outputs, features, shapes, chunk_size=2)
    expected = two_outputs(features)
    for key in shapes:
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
    with pytest.raises(ValueError, match="'tokens'.*unknown size"):
        outputs_sorted_by_length(two_outputs, features, {"tokens": (tf.float32, [None, 3])}, 2)


def test_ragged_rows_and_outputs_padded_to_a_width():
    """Rows of ragged ids (as a tagger's windows are) and an output whose second axis
    differs from chunk to chunk: each chunk's output is padded to the given width, and
    an empty request gets empty outputs of the row shape."""
    ids = tf.ragged.constant([[1, 2, 3], [4], [5, 6], [7, 8, 9, 10], []], tf.int32)
    seen = []

    def per_token(chunk, longest):
        seen.append(int(longest))
        return chunk.to_tensor(0) * 2                            # [b, longest of the chunk]

    width = tf.constant(4)
    got = run_by_length(per_token, ids, ids.row_lengths(), (tf.int32, [width]), chunk_size=2)
    np.testing.assert_array_equal(got.numpy(), (ids.to_tensor(0, shape=[5, 4]) * 2).numpy())
    assert seen == [1, 3, 4]  # lengths 0 1 | 2 3 | 4: a chunk of nothing still one position
    empty = ids[:0]
    none = run_by_length(per_token, empty, empty.row_lengths(), (tf.int32, [width]), chunk_size=2)
    assert none.shape == (0, 4)


def test_chunk_size_none_runs_one_chunk_and_bad_sizes_are_refused():
    features = padded_batch([3, 1, 2])
    widths = []
    outputs_sorted_by_length(recording_fn(widths), features, (tf.float32, [2]), chunk_size=None)
    assert widths == [(3, 3)]
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="chunk_size must be a positive integer or None"):
            outputs_sorted_by_length(recording_fn([]), features, (tf.float32, [2]), chunk_size=bad)
