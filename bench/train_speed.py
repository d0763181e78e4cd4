"""Fine-tuning throughput on SST-2: tfbert `fit` against keras-hub and transformers.

    python bench/train_speed.py [--quick] [--examples 960] [--batch-size 32]
        [--warmup-steps 3] [--threads 2] [--only ROW ...] [--json F]

The same MiniLM weights, the same first N + warm-up SST-2 training sentences, batch
32, AdamW at 5e-5, max length 128, the same thread count. Each row runs in its own
fresh process (torch and TensorFlow in one process slow each other down through their
thread pools), trains on N examples after 3 warm-up steps (graph tracing and the
first allocations are not counted), and reports examples/s and the padded tokens of
the timed batches (rows x each batch's padded length: the work done); the parent
prints them with tfbert's ratios, and each row's configuration beside it (also in
the JSON, `config`).

Every peer runs in its best ordinary configuration:

- tfbert float32 / bf16: `TextClassifier.fit` on raw strings, shuffle=True, seed 0,
  as `tfbert train` does: the texts are tokenized (in-graph) before training starts,
  then batches are planned by length (shuffled, sorted by length within windows of
  64 batches, batch order shuffled again), each padded to its own longest row. bf16:
  the `mixed_bfloat16` Keras policy (float32 weights, bf16 compute), set globally and
  passed to the model as `tfbert train` does.
- keras-hub float32 / bf16: `BertTextClassifier.from_preset(<the HF directory>)` `fit`
  on raw strings in file order; its preprocessor tokenizes inside the tf.data
  pipeline (so in the timed loop) and pads every batch to the full sequence length,
  128 (it has no dynamic padding). bf16: `dtype="mixed_bfloat16"` for the backbone
  and head (float32 weights, bf16 compute), as tfbert's bf16 row.
- transformers float32 / bf16: `BertForSequenceClassification` with a plain PyTorch
  loop. The texts are tokenized before the timer (`BertTokenizerFast`, truncation
  128, no padding), then batched by length as `Trainer(group_by_length=True)` does,
  but on tfbert's own plan (the same algorithm and seed, so the same batches; a
  Trainer sorts within mega-batches of at most 50 batches, 8 at the default 1,056
  sentences, and pads somewhat more), each batch padded to its longest row in the
  loop, as a padding collator would.
  bf16: the forward pass and loss under `torch.autocast("cpu", dtype=torch.bfloat16)`
  (float32 weights), the backward pass outside it (the usual recipe; bf16 needs no
  loss scaling).

tfbert and transformers therefore pad the same tokens (the table shows it); keras-hub
pads every row to 128.
"""

import time

import common

ROWS = ["tfbert float32", "tfbert bf16", "keras-hub float32", "keras-hub bf16",
        "transformers float32", "transformers bf16"]
LEARNING_RATE, MAX_LENGTH = 5e-5, 128
SEED, WINDOW_BATCHES = 0, 64  # tfbert fit's defaults: the plan the transformers loop rebuilds
MIXED_BF16 = "bf16 (mixed_bfloat16: float32 weights, bf16 compute)"


def sst2(count):
    """The first `count` training sentences and their 0/1 labels."""
    return (common.sst2_sentences("train", count),
            [int(label) for label in common.sst2_column("train", "label", count)])


def padded_tokens(lengths, batches):
    """Tokens the model runs on: each batch's rows times its longest row."""
    return int(sum(len(batch) * max(lengths[i] for i in batch) for batch in batches))


def length_grouped_batches(lengths, batch_size, seed=SEED, window_batches=WINDOW_BATCHES):
    """tfbert's training batch plan (`tfbert.data.pipeline.plan_batches`, shuffle=True,
    epoch 0), rebuilt here because a torch child must not import tfbert (TensorFlow):
    shuffled, sorted by length within windows of `window_batches` batches, cut into
    batches, batch order shuffled."""
    import numpy as np

    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, 0])
    order = rng.permutation(len(lengths))
    window = batch_size * window_batches
    batches = []
    for start in range(0, len(lengths), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


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


def tfbert_row(model_dir, texts, labels, args, precision):
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
    labels = [str(label) for label in labels]
    try:  # the batches fit will run: tfbert internals, so counted where they exist
        data = model.tokenize(texts, labels)
        padded = padded_tokens(data.lengths, data.plan(args.batch_size, shuffle=True, seed=SEED)
                               [args.warmup_steps:])
    except AttributeError:
        padded = None
    timer = step_timer(args.warmup_steps)
    model.fit(texts, labels, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True,
              callbacks=[timer])  # fit's seed: SEED by default
    return timer.seconds, padded, {
        "precision": MIXED_BF16 if policy else "float32",
        "ordering": f"length-bucketed by fit (seed {SEED}): shuffled, sorted by length within "
                    f"windows of {WINDOW_BATCHES} batches, batch order shuffled; "
                    "each batch padded to its longest row",
        "tokenization": "before the timer (fit tokenizes the whole list in-graph first); "
                        "ids packed per batch in the tf.data pipeline",
    }


def keras_hub_row(model_dir, texts, labels, args, precision):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    common.tf_threads(tf, args.threads)
    bf16 = precision == "bf16"
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        model_dir, num_classes=2, sequence_length=MAX_LENGTH,
        dtype="mixed_bfloat16" if bf16 else "float32")
    classifier.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = step_timer(args.warmup_steps)
    classifier.fit(x=np.array(texts), y=np.array(labels), batch_size=args.batch_size, epochs=1,
                   verbose=0, shuffle=False, callbacks=[timer])
    timed = len(texts) - args.warmup_steps * args.batch_size
    return timer.seconds, timed * MAX_LENGTH, {
        "precision": MIXED_BF16 if bf16 else "float32",
        "ordering": f"file order; every batch padded to {MAX_LENGTH} "
                    "(the preprocessor's fixed sequence_length)",
        "tokenization": "in the timed loop (keras-hub preprocessor in fit's tf.data pipeline)",
    }


def transformers_row(model_dir, texts, labels, args, precision):
    import numpy as np
    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    torch.set_num_threads(args.threads)
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)  # no padding yet
    lengths = [len(ids) for ids in encoded["input_ids"]]
    batches = length_grouped_batches(lengths, args.batch_size)
    labels = np.asarray(labels)

    def collate(batch):
        """Each batch padded to its own longest row, as DataCollatorWithPadding does."""
        width = max(lengths[i] for i in batch)
        features = {}
        for name, pad in (("input_ids", tokenizer.pad_token_id), ("token_type_ids", 0),
                          ("attention_mask", 0)):
            rows = np.full((len(batch), width), pad, np.int64)
            for row, i in enumerate(batch):
                rows[row, :lengths[i]] = encoded[name][i]
            features[name] = torch.from_numpy(rows)
        features["labels"] = torch.from_numpy(labels[batch])
        return features

    started = None
    for step, batch in enumerate(batches):
        if step == args.warmup_steps:
            started = time.perf_counter()
        features = collate(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**features).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started, padded_tokens(lengths, batches[args.warmup_steps:]), {
        "precision": ("bf16 (torch.autocast on forward and loss, float32 weights)"
                      if precision == "bf16" else "float32"),
        "ordering": f"length-grouped: tfbert's batch plan rebuilt (seed {SEED}, the same "
                    "batches); each batch padded to its longest row",
        "tokenization": "before the timer (BertTokenizerFast on the whole list, no padding); "
                        "per-batch padding in the loop",
    }


TRAINERS = {"tfbert": tfbert_row, "keras-hub": keras_hub_row, "transformers": transformers_row}


def child(row, args):
    """One row: trains, writes its figures and configuration for the parent."""
    framework, precision = row.split()
    texts, labels = sst2(args.examples + args.warmup_steps * args.batch_size)
    seconds, padded, config = TRAINERS[framework](args.checkpoint_dir, texts, labels, args,
                                                  precision)
    rate = args.examples / seconds
    print(f"  {row:<22}{rate:8.1f} examples/s  {padded or '-':>8} padded tokens  "
          f"({args.examples} examples in {seconds:.1f} s)", flush=True)
    config = {"precision": config.pop("precision"), "threads": args.threads,
              "batch": args.batch_size, **config}
    common.write_child_result(args, {"examples_per_s": rate, "seconds": seconds,
                                     "padded_tokens": padded,
                                     "peak_rss_mib": common.peak_rss_mib(), "config": config})


# -------------------------------------------------------------------- parent

def main():
    parser = common.parser(__doc__, quick_help="64 timed examples (a smoke run)")
    parser.add_argument("--examples", type=int, default=960, help="timed examples per row")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=ROWS, help="some of the rows")
    args = parser.parse_args()
    if args.quick:
        args.examples = 64
    common.limit_threads(args.threads)  # before any framework is imported
    if args.child:
        return child(args.child, args)

    options = common.flags(args, "threads", "examples", "batch_size", "warmup_steps")
    with common.Children(__file__, options, checkpoint=True) as children:
        results, notes = children.run_all(args.only or ROWS)
    speeds = {row: result["examples_per_s"] for row, result in results.items()}

    def ratio(reference, row):
        return f"{speeds[reference] / speeds[row]:.2f}x" if reference in speeds else "-"

    print(f"\nFine-tuning MiniLM on SST-2, {args.examples} examples, batch {args.batch_size}, "
          f"{args.threads} threads (each row's configuration under it)")
    print(f"{'row':<22}{'examples/s':>11}{'padded tokens':>15}{'peak MiB':>10}"
          f"{'tfbert f32 / this':>19}{'tfbert bf16 / this':>20}")
    for row, result in results.items():
        padded = result["padded_tokens"] or "-"
        print(f"{row:<22}{result['examples_per_s']:11.1f}{padded:>15}{result['peak_rss_mib']:10.0f}"
              f"{ratio('tfbert float32', row):>19}{ratio('tfbert bf16', row):>20}")
        print(f"{'':4}{common.config_text(result['config'])}")
    for row, note in notes.items():
        print(f"{row}: {note}")
    common.write_json(args.json, {
        "examples": args.examples, "threads": args.threads, "batch_size": args.batch_size,
        "max_length": MAX_LENGTH, "learning_rate": LEARNING_RATE,
        "warmup_steps": args.warmup_steps, "rows": results, "not_run": notes,
    })


if __name__ == "__main__":
    main()
