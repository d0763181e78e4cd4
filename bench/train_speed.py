"""Fine-tuning throughput on SST-2: tfbert `fit` against keras-hub and transformers.

    python bench/train_speed.py [--quick] [--examples 960] [--threads 2] [--json F]

The same MiniLM weights, the same first N SST-2 training sentences in the same order,
batch 32, AdamW at 5e-5, max length 128, the same thread count. Each row runs in its
own fresh process (torch and TensorFlow in one process slow each other down through
their thread pools), trains for N examples after 3 warm-up steps (graph tracing and
the first allocations are not counted), and reports examples/s; the parent prints
them with tfbert's ratios.

- tfbert float32 / bf16: `TextClassifier.fit` on raw strings (in-graph tokenization,
  length-bucketed batches padded to their longest row). bf16: the `mixed_bfloat16`
  Keras policy, set globally and passed to the model as `tfbert train` does.
- keras-hub float32: `BertTextClassifier.from_preset(<the HF directory>)` `fit` on raw
  strings; its preprocessor pads every batch to the full sequence length.
- transformers float32 / bf16: `BertForSequenceClassification` with a plain PyTorch
  loop, `tokenizer(padding=True)` per batch (dynamic padding, no bucketing). bf16: the
  forward pass and loss under `torch.autocast("cpu", dtype=torch.bfloat16)`, the
  backward pass outside it (the usual recipe; bf16 needs no loss scaling).
"""

import argparse
import json
import pathlib
import tempfile
import time

import common

ROWS = ["tfbert float32", "tfbert bf16", "keras-hub float32", "transformers float32",
        "transformers bf16"]
LEARNING_RATE, MAX_LENGTH = 5e-5, 128


def sst2(count):
    """The first `count` training sentences and their 0/1 labels."""
    return (common.sst2_sentences("train", count),
            [int(label) for label in common.sst2_column("train", "label", count)])


# ------------------------------------------------------------------ children

def step_timer(warmup_steps):
    """A Keras callback; its `seconds` is the wall time of the steps after the warm-up."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == warmup_steps:
                self.started = time.perf_counter()

        def on_train_end(self, logs=None):
            self.seconds = time.perf_counter() - self.started

    return StepTimer()


def tfbert_seconds(model_dir, texts, labels, args, precision):
    import keras
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.tasks import TextClassifier

    common.tf_threads(tf, args.threads)
    policy = "mixed_bfloat16" if precision == "bf16" else None
    if policy:  # before the model is built: its layers read the policy when created
        keras.mixed_precision.set_global_policy(policy)
    model = TextClassifier(BertEncoder.from_pretrained(model_dir, dtype=policy),
                           BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                           ["0", "1"], dtype=policy)
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE))
    timer = step_timer(args.warmup_steps)
    # shuffle=True as `tfbert train` does: batches bucketed by length within windows of
    # 64 batches, then shuffled.
    model.fit(texts, [str(label) for label in labels], batch_size=args.batch_size, epochs=1,
              verbose=0, shuffle=True, callbacks=[timer])
    return timer.seconds


def keras_hub_seconds(model_dir, texts, labels, args, precision):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    common.tf_threads(tf, args.threads)
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        model_dir, num_classes=2, sequence_length=MAX_LENGTH)
    classifier.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = step_timer(args.warmup_steps)
    classifier.fit(x=np.array(texts), y=np.array(labels), batch_size=args.batch_size, epochs=1,
                   verbose=0, shuffle=False, callbacks=[timer])
    return timer.seconds


def transformers_seconds(model_dir, texts, labels, args, precision):
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    torch.set_num_threads(args.threads)
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    started = None
    for step, start in enumerate(range(0, len(texts), args.batch_size)):
        if step == args.warmup_steps:
            started = time.perf_counter()
        batch = tokenizer(texts[start:start + args.batch_size], padding=True, truncation=True,
                          max_length=MAX_LENGTH, return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**batch, labels=torch.tensor(labels[start:start + args.batch_size])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


TRAINERS = {"tfbert": tfbert_seconds, "keras-hub": keras_hub_seconds,
            "transformers": transformers_seconds}


def child(row, args):
    """One row: trains, writes <workdir>/<row>.json."""
    framework, precision = row.split()
    texts, labels = sst2(args.examples + args.warmup_steps * args.batch_size)
    seconds = TRAINERS[framework](args.checkpoint_dir, texts, labels, args, precision)
    rate = args.examples / seconds
    print(f"  {row:<22}{rate:8.1f} examples/s  ({args.examples} examples in {seconds:.1f} s)",
          flush=True)
    common.write_json(pathlib.Path(args.workdir) / f"{row.replace(' ', '_')}.json",
                      {"examples_per_s": rate, "seconds": seconds,
                       "peak_rss_mib": common.peak_rss_mib()})


# -------------------------------------------------------------------- parent

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 timed examples (a smoke run)")
    parser.add_argument("--examples", type=int, default=960, help="timed examples per row")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=ROWS, help="some of the rows")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.examples = 64
    common.limit_threads(args.threads)  # before any framework is imported
    if args.child:
        return child(args.child, args)

    checkpoint_dir = common.checkpoint_dir_in_child()
    speeds, results, notes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="tfbert-train-") as workdir:
        for row in args.only or ROWS:
            print(f"running {row} ...", flush=True)
            error = common.run_child([
                __file__, "--child", row, "--workdir", workdir, "--checkpoint-dir", checkpoint_dir,
                "--threads", args.threads, "--examples", args.examples,
                "--batch-size", args.batch_size, "--warmup-steps", args.warmup_steps])
            if error:
                notes[row] = f"failed: {error}"
                continue
            results[row] = json.loads((pathlib.Path(workdir) / f"{row.replace(' ', '_')}.json").read_text())
            speeds[row] = results[row]["examples_per_s"]

    def ratio(reference, row):
        return f"{speeds[reference] / speeds[row]:.2f}x" if reference in speeds else "-"

    print(f"\nFine-tuning MiniLM on SST-2, {args.examples} examples, batch {args.batch_size}, "
          f"{args.threads} threads")
    print(f"{'row':<22}{'examples/s':>11}{'peak MiB':>10}{'tfbert f32 / this':>19}"
          f"{'tfbert bf16 / this':>20}")
    for row, speed in speeds.items():
        print(f"{row:<22}{speed:11.1f}{results[row]['peak_rss_mib']:10.0f}"
              f"{ratio('tfbert float32', row):>19}{ratio('tfbert bf16', row):>20}")
    for row, note in notes.items():
        print(f"{row}: {note}")
    common.write_json(args.json, {
        "examples": args.examples, "threads": args.threads, "batch_size": args.batch_size,
        "max_length": MAX_LENGTH, "learning_rate": LEARNING_RATE,
        "warmup_steps": args.warmup_steps, "rows": results, "not_run": notes,
    })


if __name__ == "__main__":
    main()
