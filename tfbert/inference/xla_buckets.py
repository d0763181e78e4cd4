"""Runs the model XLA-compiled, on a few padded shapes, so it compiles a few times only.

At one sentence per request the served encoder is bound by per-op overhead: dozens of
small kernels per layer, each dispatched by TF's executor, and the matmuls' repacking
of their weights on every call (bench/serving_profile.py: matmuls 71 % of the node
time). XLA compiles the whole encoder into a few fused kernels, but it compiles once
per input shape, and a request's shape is (rows, longest row): hundreds of shapes. So
only one-row chunks run compiled, each padded up to a length bucket first (the next
multiple of 16, of 64 above 128, up to the tokenizer's maximum); larger chunks run as
before (why: the figures below). That bounds the compilations (8 for max_length 128,
10 for 256), each paid once, on the export's warm-up requests, which TF Serving replays
when it loads the model.

Padding does not change the real rows' outputs: padded positions have input_mask 0, so
the additive bias (1 - mask) * -10000 gives them no attention weight. Served outputs
still equal the in-memory model's (within 1e-5, tests/test_export_xla.py).

TF Serving runs such an export only with `--xla_cpu_compilation_enabled=true` (without
it the first request of a compiled function fails); the deployment files then pass it.
"""

import tensorflow as tf

# Why chunks of more rows run without XLA. XLA's CPU kernels win at
# one row, where per-op overhead is the cost; on more rows they gain little or lose to
# TensorFlow's own (oneDNN) matmuls, and every compiled shape costs memory.
# bench/serving_e2e.py, SST-2 dev, 2 threads, one run, XLA on chunks of up to 8 rows
# (rows padded to 1/2/4/8): requests of 1 9.3 -> 7.2 ms p50, of 8 230 -> 243 sent/s, of
# 64 437 -> 415 sent/s (XLA on all 16 rows: 330); bench/serving_memory.py: the compiled
# shapes' resident memory +400-630 MiB for rows up to 8 (32 shapes), ~230 MiB for one
# row (8 shapes). With one row: requests of 1 8.1 -> 6.3 ms p50, 12.3 -> 9.3 p99; of 8
# and 64 unchanged within noise.


def length_buckets(max_length):
    """The lengths a chunk is padded up to: every multiple of 16 up to 128, then every
    multiple of 64, then max_length. Fine steps where sentences are (a 35-token
    sentence runs at 48, not 64), coarse ones above, where a few tokens more cost
    little beside the row's own."""
    sizes = [size for size in range(16, 129, 16)] + [size for size in range(192, max_length, 64)]
    return [size for size in sizes if size < max_length] + [max_length]


def run_single_rows_compiled(compiled_fn, plain_fn, features, lengths):
    """compiled_fn on a one-row chunk padded to a length bucket; plain_fn on larger ones.

    features: dict of int32 [b, t] (input_mask 0 marks padding).
    compiled_fn, plain_fn: such a dict -> a nest of per-row outputs.
    lengths: the length buckets, ascending; a chunk longer than them all runs at its
    own length.
    """
    def padded_to_a_bucket():
        length = tf.shape(features["input_ids"])[1]
        buckets = tf.constant(lengths, tf.int32)
        index = tf.searchsorted(buckets, tf.reshape(length, [1]), side="left")[0]
        bucket = tf.maximum(tf.gather(buckets, tf.minimum(index, len(lengths) - 1)), length)
        # Every feature to the bucket's width, not by the pieces' padding: a tagger's
        # word columns (word_starts, word_mask: at most one per piece) vary on their
        # own, and each width of them would be another compilation.
        return compiled_fn({name: tf.pad(value, [[0, 0], [0, bucket - tf.shape(value)[1]]])
                            for name, value in features.items()})

    return tf.cond(tf.shape(features["input_ids"])[0] == 1, padded_to_a_bucket,
                   lambda: plain_fn(features))
