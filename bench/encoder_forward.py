"""Encoder forward pass: tfbert vs keras-hub BertBackbone vs transformers (PyTorch).

All three load the same MiniLM checkpoint directory, run the same random token ids
(batch x seq, no padding) with the same number of CPU threads, in one process, and
print sequences per second (median of the timed calls after warm-up) and ratios,
float32 and bf16.

    python bench/encoder_forward.py [--batch 32] [--seq 128] [--threads 2] [--repeats 5]
    python bench/encoder_forward.py --batch-sizes 1 8 32 --lengths 32 128 [--json F]

With one shape (the default, 32 x 128) the table is the one bench/README.md quotes;
with several, each model is built once and timed on every batch x length combination.

bf16 means: tfbert and keras-hub under the `mixed_bfloat16` Keras policy (bf16
matmuls, float32 variables, softmax and LayerNorm); transformers under
`torch.autocast("cpu", dtype=torch.bfloat16)`.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def time_call(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tfbert_runner(model_dir, dtype):
    import tensorflow as tf

    from tfbert import BertEncoder

    encoder = BertEncoder.from_pretrained(model_dir, dtype=dtype)
    # One tf.function for all shapes: each new shape traces once, during its warm-up.
    forward = tf.function(lambda x: encoder(x, training=False)["sequence_output"])

    def bind(inputs):
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        return lambda: forward(tensors).numpy()

    return bind


def keras_hub_runner(model_dir, dtype):
    import keras_hub
    import tensorflow as tf

    backbone = keras_hub.models.BertBackbone.from_preset(str(model_dir), dtype=dtype)
    forward = tf.function(lambda x: backbone(x, training=False)["sequence_output"])

    def bind(inputs):
        tensors = {
            "token_ids": tf.constant(inputs["input_ids"]),
            "segment_ids": tf.constant(inputs["segment_ids"]),
            "padding_mask": tf.constant(inputs["input_mask"].astype(bool)),
        }
        return lambda: forward(tensors).numpy()

    return bind


def transformers_runner(model_dir, dtype):
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(model_dir)).eval()

    def bind(inputs):
        tensors = dict(
            input_ids=torch.from_numpy(inputs["input_ids"]).long(),
            token_type_ids=torch.from_numpy(inputs["segment_ids"]).long(),
            attention_mask=torch.from_numpy(inputs["input_mask"]).long(),
        )

        def run():
            with torch.inference_mode(), torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"
            ):
                return model(**tensors).last_hidden_state.float().numpy()

        return run

    return bind


def random_inputs(batch, seq):
    """The same ids for every framework: seeded per shape, [CLS] first, no padding."""
    import numpy as np

    rng = np.random.default_rng(0)
    inputs = {
        "input_ids": rng.integers(1000, 30000, (batch, seq)).astype(np.int32),
        "segment_ids": np.zeros((batch, seq), np.int32),
        "input_mask": np.ones((batch, seq), np.int32),
    }
    inputs["input_ids"][:, 0] = 101
    return inputs


def print_single_shape(rows, batch, seq, threads, repeats):
    """The table bench/README.md quotes (one shape)."""
    by_key = {(name, precision): rate for name, precision, _, _, rate in rows}
    print(
        f"\nEncoder forward, MiniLM-L6, batch {batch} x {seq} tokens, "
        f"{threads} threads (median of {repeats})"
    )
    print(f"{'framework':<14}{'precision':<10}{'seq/s':>9}{'vs keras-hub':>14}{'vs transformers':>17}")
    for name, precision, _, _, rate in rows:
        print(
            f"{name:<14}{precision:<10}{rate:9.1f}"
            f"{rate / by_key[('keras-hub', precision)]:13.2f}x"
            f"{rate / by_key[('transformers', precision)]:16.2f}x"
        )
    print(
        f"tfbert bf16 / tfbert float32: "
        f"{by_key[('tfbert', 'bf16')] / by_key[('tfbert', 'float32')]:.2f}x"
    )


def print_grid(rows, threads, repeats):
    """One row per shape and precision: each framework's seq/s, then tfbert's ratios."""
    by_key = {(name, precision, b, s): rate for name, precision, b, s, rate in rows}
    shapes = sorted({(b, s) for _, _, b, s, _ in rows})
    print(f"\nEncoder forward, MiniLM-L6, seq/s, {threads} threads (median of {repeats})")
    print(f"{'batch':>5}{'len':>5}  {'precision':<10}{'tfbert':>9}{'keras-hub':>11}"
          f"{'transformers':>14}{'tfbert/keras-hub':>18}{'tfbert/transformers':>21}")
    for precision in ("float32", "bf16"):
        for b, s in shapes:
            tfbert, hub, torch_ = (by_key[(name, precision, b, s)]
                                   for name in ("tfbert", "keras-hub", "transformers"))
            print(f"{b:5d}{s:5d}  {precision:<10}{tfbert:9.1f}{hub:11.1f}{torch_:14.1f}"
                  f"{tfbert / hub:17.2f}x{tfbert / torch_:20.2f}x")
    for b, s in shapes:
        ratio = by_key[("tfbert", "bf16", b, s)] / by_key[("tfbert", "float32", b, s)]
        print(f"tfbert bf16 / float32 at {b} x {s}: {ratio:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="several batch sizes (overrides --batch)")
    parser.add_argument("--lengths", type=int, nargs="+", help="several sequence lengths (overrides --seq)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpoint", default="all-minilm-l6-v2")
    args = parser.parse_args()

    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(args.threads)

    from tfbert.pretrained import resolve_checkpoint_dir

    model_dir = resolve_checkpoint_dir(args.checkpoint)
    batch_sizes = args.batch_sizes or [args.batch]
    lengths = args.lengths or [args.seq]
    shapes = [(b, s) for b in batch_sizes for s in lengths]
    inputs = {shape: random_inputs(*shape) for shape in shapes}

    rows = []  # (framework, precision, batch, seq, seq/s)
    for precision, keras_dtype in (("float32", "float32"), ("bf16", "mixed_bfloat16")):
        for name, make in (
            ("tfbert", lambda: tfbert_runner(model_dir, keras_dtype)),
            ("keras-hub", lambda: keras_hub_runner(model_dir, keras_dtype)),
            ("transformers", lambda: transformers_runner(model_dir, precision)),
        ):
            bind = make()
            for b, s in shapes:
                rate = b / time_call(bind(inputs[(b, s)]), args.repeats, args.warmup)
                rows.append((name, precision, b, s, rate))
                print(f"  measured {name:<13} {precision:<8} {b:3d} x {s:<4d} {rate:8.1f} seq/s", flush=True)

    if len(shapes) == 1:
        print_single_shape(rows, *shapes[0], args.threads, args.repeats)
    else:
        print_grid(rows, args.threads, args.repeats)
    if args.json:
        import json
        import pathlib

        pathlib.Path(args.json).write_text(json.dumps({
            "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
            "unit": "sequences/s",
            "rows": [dict(framework=n, precision=p, batch=b, length=s, seq_per_s=r)
                     for n, p, b, s, r in rows],
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
