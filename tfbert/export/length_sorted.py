"""Runs a model over a request sorted by length, in chunks padded to their own longest row.

A serving request arrives padded to its longest text. BERT's cost is almost all
matmuls over every position, padding included, so a request of 64 SST-2 sentences
(longest ~55 tokens, mean ~25) spends about half its work on padding. Sorting the
rows by length and running them in chunks of `chunk_size` rows, each chunk cut to its
own longest row, removes most of it; the outputs are put back in request order.
BERT's outputs do not depend on padding (tests/test_encoder.py), so the answers
are the same. Measured in bench/README.md.

Everything here is graph code (argsort, while_loop, TensorArray, scatter_nd): core
TensorFlow ops that TF Serving's runtime has.
"""

import tensorflow as tf


def used_lengths(input_mask):
    """int32 [B]: one past each row's last unmasked position.

    Not the mask's sum: a client calling `predict_ids` may send a mask with holes,
    and cutting at the sum would drop real tokens.
    """
    positions = tf.range(1, tf.shape(input_mask)[1] + 1)                 # [T]
    return tf.reduce_max(tf.where(input_mask > 0, positions[None, :], 0), axis=1)


def outputs_sorted_by_length(model_fn, features, row_shapes, chunk_size=16):
    """model_fn over `features` in length-sorted chunks; rows back in input order.

    features: dict of int32 [B, T] tensors that include `input_mask`.
    model_fn: such a dict with b <= chunk_size rows -> a nest of float32 [b, ...].
    row_shapes: the same nest, holding the shape of one row of each output; they
      must not depend on the chunk's length (per-text outputs, not per-token).
    Returns the nest of float32 [B, ...]. B must be at least 1.
    """
    for shape in tf.nest.flatten(row_shapes):
        if not shape.is_fully_defined():
            raise ValueError(f"an output row of shape {shape} cannot be stitched from "
                             "length-sorted chunks; export with chunk_size=None.")
    lengths = used_lengths(features["input_mask"])                         # [B]
    order = tf.argsort(lengths, stable=True)                                # shortest first
    sorted_features = {name: tf.gather(value, order) for name, value in features.items()}
    sorted_lengths = tf.gather(lengths, order)
    batch_size = tf.shape(lengths)[0]
    num_chunks = (batch_size + chunk_size - 1) // chunk_size
    shapes = tf.nest.flatten(row_shapes)

    def run_chunk(index, arrays):
        start = index * chunk_size
        end = tf.minimum(start + chunk_size, batch_size)
        # Rows are sorted, so the chunk's last row is its longest; at least one
        # position, so that a row of all padding still has a [CLS] slot to pool.
        longest = tf.maximum(sorted_lengths[end - 1], 1)
        chunk = {name: value[start:end, :longest] for name, value in sorted_features.items()}
        outputs = tf.nest.flatten(model_fn(chunk))
        return index + 1, [array.write(index, output) for array, output in zip(arrays, outputs)]

    _, arrays = tf.while_loop(
        lambda index, _: index < num_chunks,
        run_chunk,
        [tf.constant(0), [tf.TensorArray(tf.float32, size=num_chunks, infer_shape=False,
                                         element_shape=[None, *shape]) for shape in shapes]],
    )
    restored = [tf.scatter_nd(order[:, None], array.concat(), [batch_size, *shape])
                for array, shape in zip(arrays, shapes)]                   # [B, ...]
    return tf.nest.pack_sequence_as(row_shapes, restored)
