"""Accuracy of the fast paths: SST-2 dev accuracy of each, against the float32 path.

    python bench/accuracy.py [--examples 4000] [--threads 2] [--json F] [--quick]

Speed must not cost accuracy (target: every fast path within 0.3 points of float32).
This fine-tunes MiniLM on the first N SST-2 training sentences (one epoch, batch 32,
AdamW 5e-5, [CLS] head, seed 0), then scores the 872 dev sentences along each path:

- keras float32: the fine-tuned model's own `predict` (the reference);
- serving float32, one padded batch: the export with chunk_size=None;
- serving float32: the default export (requests sorted by length, chunks of 16);
- serving bf16: the bf16 export (bfloat16 weights and compute, chunks of 16);
- trained in bf16: the same fine-tuning under `mixed_bfloat16`, scored by its own
  `predict` (one more training run; skipped with --no-bf16-training).

Served paths are loaded with `tf.saved_model.load` and sent requests of 64 raw
sentences, as bench/serving_e2e.py does. Each training run is a fresh process.
"""

import pathlib
import sys

import common

BATCH, LEARNING_RATE, MAX_LENGTH = 32, 5e-5, 128
REQUEST = 64


def fine_tune(workdir, examples, precision):
    """Child: fine-tunes, saves predictions of the dev set and (float32) the exports."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.export import export_for_serving
    from tfbert.tasks import TextClassifier

    keras.utils.set_random_seed(0)
    dtype = "mixed_bfloat16" if precision == "bf16" else None
    model_dir = common.checkpoint_dir()
    task = TextClassifier(BertEncoder.from_pretrained(model_dir, dtype=dtype),
                          BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                          ["0", "1"], dtype=dtype)
    task.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE))
    texts = common.sst2_column("train", "sentence", examples)
    labels = common.sst2_column("train", "label", examples)
    task.fit(texts, labels, batch_size=BATCH, epochs=1, shuffle=True, verbose=2)
    dev = common.sst2_column("dev", "sentence")
    predicted = task.predict(dev, batch_size=REQUEST)["label_id"]
    np.save(workdir / f"keras_{precision}.npy", np.asarray(predicted))
    if precision == "float32":
        for name, dtype, chunk_size in (("float32_unsorted", "float32", None),
                                        ("float32", "float32", 16),
                                        ("bf16", "bfloat16", 16)):
            export_for_serving(task, workdir / "saved_models", name, version=1,
                               compute_dtype=dtype, chunk_size=chunk_size,
                               deployment_files=False)


def serve(workdir, name):
    """Child: the dev labels that an export gives, with only TensorFlow and TF Text."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (the tokenizer ops)

    signature = tf.saved_model.load(str(workdir / "saved_models" / name / "1"))
    signature = signature.signatures["serving_default"]
    dev = common.sst2_column("dev", "sentence")
    label_ids = [signature(text=tf.constant(dev[i:i + REQUEST]))["label_id"].numpy()
                 for i in range(0, len(dev), REQUEST)]
    np.save(workdir / f"serving_{name}.npy", np.concatenate(label_ids))


PATHS = [  # (row, child step, file the child writes)
    ("keras float32", "train float32", "keras_float32.npy"),
    ("serving float32, one padded batch", "serve float32_unsorted", "serving_float32_unsorted.npy"),
    ("serving float32 (length-sorted)", "serve float32", "serving_float32.npy"),
    ("serving bf16 (length-sorted)", "serve bf16", "serving_bf16.npy"),
    ("trained in bf16", "train bf16", "keras_bf16.npy"),
]


def main():
    parser = common.parser(__doc__, quick_help="256 training sentences")
    parser.add_argument("--examples", type=int, default=4000, help="SST-2 training sentences")
    parser.add_argument("--no-bf16-training", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.examples = 256
    common.limit_threads(args.threads)
    if args.child:
        import tensorflow as tf

        common.tf_threads(tf, args.threads)
        step, argument = args.child.split()
        workdir = pathlib.Path(args.workdir)
        return fine_tune(workdir, args.examples, argument) if step == "train" else serve(workdir, argument)

    import numpy as np

    gold = np.array([int(label) for label in common.sst2_column("dev", "label")])
    accuracy, failed = {}, {}
    with common.Children(__file__, common.flags(args, "threads", "examples")) as children:
        for row, step, output in PATHS:
            if step == "train bf16" and args.no_bf16_training:
                continue
            error = children.run(step)
            if error:
                failed[row] = error
                if step == "train float32":
                    break  # nothing else exists without the fine-tuned model
                continue
            predicted = np.load(children.workdir / output).astype(int)
            accuracy[row] = float((predicted == gold).mean())

    reference = accuracy.get("keras float32")
    print(f"\nSST-2 dev accuracy ({len(gold)} sentences) after fine-tuning on "
          f"{args.examples} training sentences, one epoch")
    print(f"{'path':<36}{'accuracy':>10}{'vs float32 (points)':>21}")
    for row, value in accuracy.items():
        delta = f"{100 * (value - reference):+20.2f}" if reference is not None else f"{'-':>20}"
        print(f"{row:<36}{100 * value:10.2f}{delta}")
    for row, error in failed.items():
        print(f"{row}: failed: {error}")
    common.write_json(args.json, {
        "examples": args.examples, "dev_sentences": len(gold), "accuracy": accuracy,
        "reference": "keras float32", "not_run": failed,
    })
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
