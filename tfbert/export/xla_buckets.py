"""Runs the model XLA-compiled, on a few padded shapes, so it compiles a few times only.

At one sentence per request the served encoder is bound by per-op overhead: dozens of
small kernels per layer, each dispatched by TF's executor, and the matmuls' repacking
of their weights on every call (bench/serving_profile.py: matmuls 71 % of the node
time). XLA compiles the whole encoder into a few fused kernels, but it compiles once
per input shape, and a request's shape is (rows, longest row): hundreds of shapes. So
only chunks of one row (XLA_MAX_ROWS, below) run compiled, each padded up to a length
bucket first (the next multiple of 16, of 64 above 128, up to the tokenizer's
maximum); larger chunks run as before. That bounds the compilations (8 for
max_length 128), each paid once, on the export's warm-up requests, which TF Serving
replays when it loads the model. (run_in_buckets pads rows to a bucket too, for a
larger XLA_MAX_ROWS.)

Padding does not change the real rows' outputs: padded positions have input_mask 0, so
the additive bias (1 - mask) * -10000 gives them no attention weight, and padded rows
are dropped again. Served outputs still equal the in-memory model's (within 1e-5,
tests/test_export_xla.py).

TF Serving runs such an export only with `--xla_cpu_compilation_enabled=true` (without
it the first request of a compiled function fails); the deployment files then pass it.
"""

import tensorflow as tf

# Chunks of more rows run without XLA. XLA's CPU kernels win at one row, where per-op
# overhead is the cost; on more rows they gain little or lose to TensorFlow's own
# (oneDNN) matmuls, and every compiled shape costs memory. bench/serving_e2e.py, SST-2
# dev, 2 threads, one run, XLA on chunks of up to 8 rows: requests of 1 9.3 -> 7.2 ms
# p50, of 8 230 -> 243 sent/s, of 64 437 -> 415 sent/s (XLA on all 16 rows: 330);
# bench/serving_memory.py: the compiled shapes' resident memory +400-630 MiB for rows
# up to 8 (32 shapes), ~230 MiB for one row (8 shapes). With one row: requests of 1
# 8.1 -> 6.3 ms p50, 12.3 -> 9.3 p99; of 8 and 64 unchanged within noise.
XLA_MAX_ROWS = 1


def length_buckets(max_length):
    """The lengths a chunk is padded up to: every multiple of 16 up to 128, then every
    multiple of 64, then max_length. Fine steps where sentences are (a 35-token
    sentence runs at 48, not 64), coarse ones above, where a few tokens more cost
    little beside the row's own."""
    sizes = [size for size in range(16, 129, 16)] + [size for size in range(192, max_length, 64)]
    return [size for size in sizes if size < max_length] + [max_length]


def row_buckets(chunk_size):
    """[1, 2, 4, ..., chunk_size]: the row counts a chunk is padded up to (chunk_size:
    the most rows a compiled chunk has)."""
    buckets = []
    size = 1
    while size < chunk_size:
        buckets.append(size)
        size *= 2
    return buckets + [chunk_size]


def _bucket(value, buckets):
    """The smallest bucket >= value, or value itself when it is above them all."""
    sizes = tf.constant(buckets, tf.int32)
    index = tf.searchsorted(sizes, tf.reshape(value, [1]), side="left")[0]
    return tf.maximum(tf.gather(sizes, tf.minimum(index, len(buckets) - 1)), value)


def run_small_chunks_compiled(compiled_fn, plain_fn, features, lengths, rows):
    """compiled_fn (in buckets) on a chunk of at most rows[-1] rows, plain_fn on larger."""
    return tf.cond(tf.shape(features["input_ids"])[0] <= rows[-1],
                   lambda: run_in_buckets(compiled_fn, features, lengths, rows),
                   lambda: plain_fn(features))


def run_in_buckets(compiled_fn, features, lengths, rows):
    """compiled_fn on `features` padded to a bucket shape; outputs cut back to the rows.

    features: dict of int32 [b, t] (input_mask 0 marks padding).
    compiled_fn: such a dict -> a nest of float32 [b, ...] per-row outputs.
    lengths, rows: the buckets (ascending lists) of the two dimensions.
    """
    shape = tf.shape(features["input_ids"])
    padded_rows = _bucket(shape[0], rows)
    padded_length = _bucket(shape[1], lengths)
    padding = [[0, padded_rows - shape[0]], [0, padded_length - shape[1]]]
    padded = {name: tf.pad(value, padding) for name, value in features.items()}
    outputs = compiled_fn(padded)
    return tf.nest.map_structure(lambda output: output[:shape[0]], outputs)
