"""Encoder forward pass: tfbert vs keras-hub BertBackbone vs transformers (PyTorch).

All three load the same MiniLM checkpoint directory, run the same random token ids
(batch x seq, no padding) with the same number of CPU threads, in one process, and
print sequences per second and ratios, float32 and bf16.

    python bench/encoder_forward.py [--batch 32] [--seq 128] [--threads 2] [--repeats 5]

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


def tfbert_runner(model_dir, dtype, inputs):
    import tensorflow as tf

    from tfbert import BertEncoder

    encoder = BertEncoder.from_pretrained(model_dir, dtype=dtype)
    forward = tf.function(lambda x: encoder(x, training=False)["sequence_output"])
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    return lambda: forward(tensors).numpy()


def keras_hub_runner(model_dir, dtype, inputs):
    import keras_hub
    import tensorflow as tf

    backbone = keras_hub.models.BertBackbone.from_preset(str(model_dir), dtype=dtype)
    forward = tf.function(lambda x: backbone(x, training=False)["sequence_output"])
    tensors = {
        "token_ids": tf.constant(inputs["input_ids"]),
        "segment_ids": tf.constant(inputs["segment_ids"]),
        "padding_mask": tf.constant(inputs["input_mask"].astype(bool)),
    }
    return lambda: forward(tensors).numpy()


def transformers_runner(model_dir, dtype, inputs):
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(model_dir)).eval()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpoint", default="all-minilm-l6-v2")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(args.threads)

    from tfbert.pretrained import resolve_checkpoint_dir

    model_dir = resolve_checkpoint_dir(args.checkpoint)
    rng = np.random.default_rng(0)
    inputs = {
        "input_ids": rng.integers(1000, 30000, (args.batch, args.seq)).astype(np.int32),
        "segment_ids": np.zeros((args.batch, args.seq), np.int32),
        "input_mask": np.ones((args.batch, args.seq), np.int32),
    }
    inputs["input_ids"][:, 0] = 101

    rows = []
    for precision, keras_dtype in (("float32", "float32"), ("bf16", "mixed_bfloat16")):
        for name, make in (
            ("tfbert", lambda: tfbert_runner(model_dir, keras_dtype, inputs)),
            ("keras-hub", lambda: keras_hub_runner(model_dir, keras_dtype, inputs)),
            ("transformers", lambda: transformers_runner(model_dir, precision, inputs)),
        ):
            seconds = time_call(make(), args.repeats)
            rows.append((name, precision, args.batch / seconds))
            print(f"  measured {name:<13} {precision:<8} {args.batch / seconds:8.1f} seq/s", flush=True)

    by_key = {(name, precision): rate for name, precision, rate in rows}
    print(
        f"\nEncoder forward, MiniLM-L6, batch {args.batch} x {args.seq} tokens, "
        f"{args.threads} threads (median of {args.repeats})"
    )
    print(f"{'framework':<14}{'precision':<10}{'seq/s':>9}{'vs keras-hub':>14}{'vs transformers':>17}")
    for name, precision, rate in rows:
        print(
            f"{name:<14}{precision:<10}{rate:9.1f}"
            f"{rate / by_key[('keras-hub', precision)]:13.2f}x"
            f"{rate / by_key[('transformers', precision)]:16.2f}x"
        )
    print(
        f"tfbert bf16 / tfbert float32: "
        f"{by_key[('tfbert', 'bf16')] / by_key[('tfbert', 'float32')]:.2f}x"
    )


if __name__ == "__main__":
    main()
