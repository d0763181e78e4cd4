"""Encoder forward pass: tfbert vs keras-hub BertBackbone vs transformers (PyTorch).

    python bench/encoder_forward.py [--quick] [--threads 2] [--repeats 5]
        [--batch-sizes 1 8 32] [--lengths 32 128] [--json F]

All three load the same MiniLM checkpoint directory and run the same random token ids
(seeded per shape, no padding) with the same number of CPU threads. Each (framework,
precision) runs in its own fresh process (torch and TensorFlow in one process slow
each other down through their thread pools), builds its model once and times every
batch x length shape: sequences per second from the median of the timed calls after
the warm-up ones. The parent prints one table with tfbert's ratios.

bf16 means: tfbert and keras-hub under the `bfloat16` Keras policy (bfloat16 weights
and matmuls; Keras keeps LayerNorm and softmax in float32), which is how a bf16
export serves (the `mixed_bfloat16` training policy re-casts float32 weights on every
call and measured no faster here); transformers under
`torch.autocast("cpu", dtype=torch.bfloat16)`. tfbert and keras-hub run inside
`tf.function`, transformers under `torch.inference_mode`.
"""

import time

import common

FRAMEWORKS = ["tfbert", "keras-hub", "transformers"]
PRECISIONS = ["float32", "bf16"]
KERAS_DTYPES = {"float32": "float32", "bf16": "bfloat16"}


# ------------------------------------------------------------------ children

def tfbert_runner(model_dir, precision, threads):
    import tensorflow as tf

    from tfbert import BertEncoder

    common.tf_threads(tf, threads)
    encoder = BertEncoder.from_pretrained(model_dir, dtype=KERAS_DTYPES[precision])
    # One tf.function for all shapes: each new shape traces once, during its warm-up.
    forward = tf.function(lambda x: encoder(x, training=False)["sequence_output"])

    def bind(inputs):
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        return lambda: forward(tensors).numpy()

    return bind


def keras_hub_runner(model_dir, precision, threads):
    import keras_hub
    import tensorflow as tf

    common.tf_threads(tf, threads)
    backbone = keras_hub.models.BertBackbone.from_preset(model_dir, dtype=KERAS_DTYPES[precision])
    forward = tf.function(lambda x: backbone(x, training=False)["sequence_output"])

    def bind(inputs):
        tensors = {
            "token_ids": tf.constant(inputs["input_ids"]),
            "segment_ids": tf.constant(inputs["segment_ids"]),
            "padding_mask": tf.constant(inputs["input_mask"].astype(bool)),
        }
        return lambda: forward(tensors).numpy()

    return bind


def transformers_runner(model_dir, precision, threads):
    import torch
    from transformers import BertModel

    torch.set_num_threads(threads)
    model = BertModel.from_pretrained(model_dir).eval()

    def bind(inputs):
        tensors = dict(
            input_ids=torch.from_numpy(inputs["input_ids"]).long(),
            token_type_ids=torch.from_numpy(inputs["segment_ids"]).long(),
            attention_mask=torch.from_numpy(inputs["input_mask"]).long(),
        )

        def run():
            with torch.inference_mode(), torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=precision == "bf16"
            ):
                return model(**tensors).last_hidden_state.float().numpy()

        return run

    return bind


RUNNERS = {"tfbert": tfbert_runner, "keras-hub": keras_hub_runner,
           "transformers": transformers_runner}


def random_inputs(batch, seq):
    """The same ids in every process: seeded per shape, [CLS] first, no padding."""
    import numpy as np

    rng = np.random.default_rng(0)
    inputs = {
        "input_ids": rng.integers(1000, 30000, (batch, seq)).astype(np.int32),
        "segment_ids": np.zeros((batch, seq), np.int32),
        "input_mask": np.ones((batch, seq), np.int32),
    }
    inputs["input_ids"][:, 0] = 101
    return inputs


def time_call(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return common.median(times)


def child(step, args):
    """One (framework, precision): times every shape, writes <workdir>/<step>.json."""
    framework, precision = step.split()
    bind = RUNNERS[framework](args.checkpoint_dir, precision, args.threads)
    rates = {}
    for batch in args.batch_sizes:
        for length in args.lengths:
            rate = batch / time_call(bind(random_inputs(batch, length)), args.repeats, args.warmup)
            rates[f"{batch}x{length}"] = rate
            print(f"  {framework:<13}{precision:<9}{batch:4d} x {length:<4d}{rate:9.1f} seq/s", flush=True)
    common.write_child_result(args, {"seq_per_s": rates, "peak_rss_mib": common.peak_rss_mib()})


# -------------------------------------------------------------------- parent

def print_grid(rates, shapes, threads, repeats):
    """One row per precision and shape: each framework's seq/s, then tfbert's ratios."""
    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "-"

    def rate(value):
        return f"{value:.1f}" if value else "-"

    print(f"\nEncoder forward, MiniLM-L6, sequences/s, {threads} threads (median of {repeats})")
    print(f"{'batch':>5}{'len':>5}  {'precision':<10}{'tfbert':>9}{'keras-hub':>11}"
          f"{'transformers':>14}{'tfbert/keras-hub':>18}{'tfbert/transformers':>21}")
    for precision in PRECISIONS:
        for batch, length in shapes:
            tfbert, hub, torch_ = (rates.get((name, precision, batch, length)) for name in FRAMEWORKS)
            print(f"{batch:5d}{length:5d}  {precision:<10}{rate(tfbert):>9}{rate(hub):>11}"
                  f"{rate(torch_):>14}{ratio(tfbert, hub):>18}{ratio(tfbert, torch_):>21}")
    for batch, length in shapes:
        bf16, float32 = (rates.get(("tfbert", p, batch, length)) for p in ("bf16", "float32"))
        print(f"tfbert bf16 / float32 at {batch} x {length}: {ratio(bf16, float32)}")


def main():
    parser = common.parser(__doc__, quick_help="batch 1 and 8, length 32, 2 repeats")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.batch_sizes, args.lengths, args.repeats = [1, 8], [32], 2
    # Before any framework is imported: OpenMP reads its thread count once, at start-up.
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    shapes = [(b, s) for b in args.batch_sizes for s in args.lengths]
    steps = [f"{framework} {precision}" for precision in PRECISIONS for framework in FRAMEWORKS]
    options = common.flags(args, "threads", "repeats", "warmup", "batch_sizes", "lengths")
    with common.Children(__file__, options, checkpoint=True) as children:
        results, notes = children.run_all(steps)
    rates, peak_rss = {}, {}
    for step, result in results.items():
        framework, precision = step.split()
        peak_rss[step] = result["peak_rss_mib"]
        for shape, rate in result["seq_per_s"].items():
            batch, length = map(int, shape.split("x"))
            rates[(framework, precision, batch, length)] = rate

    print_grid(rates, shapes, args.threads, args.repeats)
    for step, note in notes.items():
        print(f"{step}: {note}")
    common.write_json(args.json, {
        "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
        "unit": "sequences/s", "batch_sizes": args.batch_sizes, "lengths": args.lengths,
        "rows": [dict(framework=f, precision=p, batch=b, length=s, seq_per_s=r)
                 for (f, p, b, s), r in rates.items()],
        "peak_rss_mib": peak_rss, "not_run": notes,
    })


if __name__ == "__main__":
    main()
