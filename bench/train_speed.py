"""Fine-tuning throughput on SST-2: tfbert `fit` against keras-hub and transformers.

    python bench/train_speed.py [--examples 960] [--threads 2]

The same MiniLM weights, the same first N SST-2 training sentences, batch 32, AdamW
at 5e-5, max length 128, the same thread count, one process. Each framework trains
for N examples after 3 warm-up steps (graph tracing and the first allocations are
not counted) and the script prints examples/s and the ratios. Results are appended
to bench/results/train_speed.json.

- tfbert: `TextClassifier.fit` on raw strings (in-graph tokenization, length-bucketed
  batches padded to their longest row).
- keras-hub: `BertTextClassifier.from_preset(<the HF directory>)` `fit` on raw
  strings; its preprocessor pads every batch to the full sequence length.
- transformers: `BertForSequenceClassification` with a plain PyTorch loop,
  `tokenizer(padding=True)` per batch (dynamic padding, no bucketing).
"""

import argparse
import datetime
import json
import os
import pathlib
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BATCH, LEARNING_RATE, MAX_LENGTH, WARMUP_STEPS = 32, 5e-5, 128, 3


def sst2(count):
    lines = (DATA / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.rsplit("\t", 1) for line in lines[:count + WARMUP_STEPS * BATCH]]
    return [text.strip() for text, _ in rows], [int(label) for _, label in rows]


class StepTimer:
    """Wall time of the steps after the warm-up ones (a Keras callback)."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch + 1 == WARMUP_STEPS:
                    timer.started = time.perf_counter()

            def on_train_end(self, logs=None):
                timer.seconds = time.perf_counter() - timer.started

        self.callback = Callback()


def tfbert_speed(model_dir, texts, labels):
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.tasks import TextClassifier

    model = TextClassifier(BertEncoder.from_pretrained(model_dir),
                           BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH), ["0", "1"])
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE))
    timer = StepTimer()
    # shuffle=True as `tfbert train` does: batches bucketed by length within windows of
    # 64 batches, then shuffled.
    model.fit(texts, [str(label) for label in labels], batch_size=BATCH, epochs=1, verbose=0,
              shuffle=True, callbacks=[timer.callback])
    return timer.seconds


def keras_hub_speed(model_dir, texts, labels):
    import keras
    import keras_hub
    import numpy as np

    classifier = keras_hub.models.BertTextClassifier.from_preset(
        str(model_dir), num_classes=2, sequence_length=MAX_LENGTH)
    classifier.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = StepTimer()
    classifier.fit(x=np.array(texts), y=np.array(labels), batch_size=BATCH, epochs=1, verbose=0,
                   shuffle=False, callbacks=[timer.callback])
    return timer.seconds


def transformers_speed(model_dir, texts, labels):
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    started = None
    for step, start in enumerate(range(0, len(texts), BATCH)):
        if step == WARMUP_STEPS:
            started = time.perf_counter()
        batch = tokenizer(texts[start:start + BATCH], padding=True, truncation=True,
                          max_length=MAX_LENGTH, return_tensors="pt")
        loss = model(**batch, labels=torch.tensor(labels[start:start + BATCH])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=960, help="timed examples per framework")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=("tfbert", "keras-hub", "transformers"))
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    torch.set_num_threads(args.threads)
    from tfbert.pretrained import resolve_checkpoint_dir

    model_dir = str(resolve_checkpoint_dir("all-minilm-l6-v2"))
    texts, labels = sst2(args.examples)
    runners = {"tfbert": tfbert_speed, "keras-hub": keras_hub_speed,
               "transformers": transformers_speed}
    speeds = {}
    for name, runner in runners.items():
        if args.only and name not in args.only:
            continue
        seconds = runner(model_dir, texts, labels)
        speeds[name] = args.examples / seconds
        print(f"{name:13s} {speeds[name]:7.1f} examples/s  ({args.examples} examples in {seconds:.1f} s)",
              flush=True)
    if "tfbert" in speeds:
        for name, speed in speeds.items():
            if name != "tfbert":
                print(f"tfbert / {name}: {speeds['tfbert'] / speed:.2f}x")
    results = ROOT / "bench" / "results" / "train_speed.json"
    rows = json.loads(results.read_text()) if results.exists() else []
    rows.append({"date": datetime.date.today().isoformat(), "examples": args.examples,
                 "threads": args.threads, "batch_size": BATCH, "max_length": MAX_LENGTH,
                 "examples_per_second": speeds})
    results.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
