"""The one inference engine: rows sorted by length, run in chunks, put back in order.

A request (or a window of a file) arrives in any order of lengths. BERT's cost is
almost all matmuls over every position, padding included, so a batch of 64 SST-2
sentences padded to its longest (~55 tokens, mean ~25) spends about half its work on
padding. Sorting the rows by length and running them in chunks of `chunk_size` rows,
each chunk padded only to its own longest row, removes most of it; the outputs are
then scattered back to the rows' input order. BERT's outputs do not depend on padding
(tests/test_encoder.py), so the answers are the same as one padded batch.

Every inference path runs through `run_by_length`: `Task.predict` and evaluation
(in-process), every signature of an export (text, token ids, tf.Examples, a tagger's
words), and `tfbert embed`. What differs between them is only what a row is (token ids
of a text or a pair, a tagger's window of word pieces, a client's padded ids) and what
a chunk of rows is turned into before the model runs; the caller says both.

Everything here is graph code (argsort, while_loop, tensor_scatter_nd_update): core
TensorFlow ops that TF Serving's runtime has.
"""

import tensorflow as tf

# Rows per chunk. The export's default; in-process prediction uses its batch_size.
CHUNK_SIZE = 16


def check_chunk_size(chunk_size):
    """ValueError unless chunk_size is a positive integer or None (one chunk)."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")


def used_lengths(input_mask):
    """int32 [B]: one past each row's last unmasked position.

    Not the mask's sum: a client calling `predict_ids` may send a mask with holes,
    and cutting at the sum would drop real tokens.
    """
    positions = tf.range(1, tf.shape(input_mask)[1] + 1)                 # [T]
    return tf.reduce_max(tf.where(input_mask > 0, positions[None, :], 0), axis=1)


def run_by_length(run_chunk, rows, lengths, output_specs, chunk_size=CHUNK_SIZE):
    """`run_chunk` over `rows` in length-sorted chunks; outputs back in input order.

    rows: a nest of tensors (dense or ragged), each with the same N >= 0 rows.
    lengths: int32 [N], how long each row is once made into model inputs.
    run_chunk(chunk, longest): `rows` cut to at most chunk_size rows (sorted,
      shortest first) and the longest of their lengths -> one output [b, ...] or a
      dict of them.
    output_specs: `(dtype, row_shape)` for the output, or a dict of them for a dict;
      row_shape holds ints or scalar int32 tensors. A chunk's output is cast, and
      zero-padded (or cut) to row_shape on every axis after the first: a tagger's
      chunk has as many word columns as its own widest window.
    chunk_size: rows per chunk; None runs the rows as one chunk.
    Returns the output(s) [N, *row_shape], row i that of rows' row i.
    """
    check_chunk_size(chunk_size)
    named = isinstance(output_specs, dict)
    names = sorted(output_specs) if named else [None]
    specs = [output_specs[name] for name in names] if named else [output_specs]
    for name, (_, row_shape) in zip(names, specs):
        if any(size is None for size in row_shape):
            raise ValueError(f"output {name!r}: row shape {list(row_shape)} has an unknown size; "
                             "chunks are stitched to a known one (an int or a scalar tensor).")
    lengths = tf.cast(lengths, tf.int32)
    count = tf.shape(lengths)[0]
    size = tf.maximum(count, 1) if chunk_size is None else tf.constant(chunk_size, tf.int32)
    order = tf.argsort(lengths, stable=True)                               # shortest first
    sorted_rows = tf.nest.map_structure(lambda value: tf.gather(value, order), rows)
    sorted_lengths = tf.gather(lengths, order)
    num_chunks = (count + size - 1) // size

    def run_one(index, results):
        start = index * size
        end = tf.minimum(start + size, count)
        # Sorted, so the chunk's last row is its longest; at least one position, so
        # that a row of nothing still has a [CLS] slot to pool.
        longest = tf.maximum(sorted_lengths[end - 1], 1)
        outputs = run_chunk(tf.nest.map_structure(lambda value: value[start:end], sorted_rows),
                            longest)
        outputs = [outputs[name] for name in names] if named else [outputs]
        rows_in_input_order = order[start:end, None]                      # [b, 1]
        return index + 1, [tf.tensor_scatter_nd_update(result, rows_in_input_order,
                                                       _fitted(output, dtype, shape))
                           for result, output, (dtype, shape) in zip(results, outputs, specs)]

    # Each chunk's rows are written straight to their places in the input order. No
    # rows: the loop runs no chunk and the outputs are [0, ...].
    results = [tf.zeros(tf.stack([count, *shape]), dtype) for dtype, shape in specs]  # [N, ...]
    _, results = tf.while_loop(lambda index, _: index < num_chunks, run_one, [tf.constant(0), results])
    return dict(zip(names, results)) if named else results[0]


def _fitted(output, dtype, row_shape):
    """One chunk's output cast to dtype and zero-padded or cut to [b, *row_shape]."""
    output = tf.cast(output, dtype)
    for axis, size in enumerate(row_shape, start=1):
        paddings = [[0, 0]] * output.shape.rank
        paddings[axis] = [0, tf.maximum(size - tf.shape(output)[axis], 0)]
        output = tf.pad(output, paddings)
        sizes = [-1] * output.shape.rank
        sizes[axis] = size
        output = tf.slice(output, [0] * output.shape.rank, sizes)
    return output
