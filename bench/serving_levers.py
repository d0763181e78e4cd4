"""A/B of tfbert's serving levers: one model exported several ways, timed interleaved.

    python bench/serving_levers.py [--variants float32:none float32:16 bfloat16:16 ...]
        [--batch-size 64] [--rounds 4] [--sentences N] [--threads 2] [--json F] [--quick]

Each variant is `compute_dtype:chunk_size[:xla]` ("none": each request as one batch
padded to its longest row; ":xla": exported with jit_compile=True, its warm-up requests
replayed before timing, as TF Serving replays them). The same MiniLM classifier (seeded head) is exported once per
variant in a child process; a second child, importing only tensorflow and
tensorflow_text, loads every export and sends the 872 SST-2 dev sentences (or the
first --sentences) in requests of --batch-size, one full pass per variant in turn, --rounds times. The
machine is noisy (other work shares its two cores), so variants are interleaved
rather than run one after another, and each reports its best pass and every pass.
--quick (a smoke run): float32:none and bfloat16:16, 64 sentences, one round.

Levers that are code, not export options (2-D dense rows, the [CLS]-only last
block), were measured by running this script's timing child on exports made at the
commits before and after the change; bench/README.md gives those figures.
"""

import argparse
import pathlib
import sys
import tempfile
import time

import common

MAX_LENGTH = 128


def parse_variant(text):
    dtype, _, rest = text.partition(":")
    chunk, _, xla = rest.partition(":")
    if (dtype not in ("float32", "bfloat16", "float16") or not (chunk == "none" or chunk.isdigit())
            or xla not in ("", "xla")):
        raise argparse.ArgumentTypeError(
            f"variant {text!r}: expected DTYPE:CHUNK[:xla], DTYPE float32|bfloat16|float16, "
            "CHUNK a positive integer or none")
    return text


def export_variants(workdir, variants):
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.export import export_for_serving
    from tfbert.tasks import TextClassifier

    keras.utils.set_random_seed(0)
    model_dir = common.checkpoint_dir()
    task = TextClassifier(BertEncoder.from_pretrained(model_dir),
                          BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                          ["negative", "positive"])
    for variant in variants:
        dtype, chunk, *xla = variant.split(":")
        export_for_serving(task, workdir, variant.replace(":", "-"), version=1,
                           compute_dtype=dtype, chunk_size=None if chunk == "none" else int(chunk),
                           jit_compile=bool(xla), deployment_files=False)


def warmup_texts(export_dir):
    """The text batches of the export's warm-up requests (read eagerly), which TF
    Serving replays at load: an XLA export compiles its bucketed shapes there."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = pathlib.Path(export_dir) / "assets.extra" / "tf_serving_warmup_requests"
    return [tf.make_ndarray(prediction_log_pb2.PredictionLog.FromString(record.numpy())
                            .predict_log.request.inputs["text"])
            for record in tf.data.TFRecordDataset(str(path))]


def time_variants(workdir, variants, batch_size, rounds, count):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (the tokenizer ops)

    sentences = common.sst2_sentences("dev", count)
    requests = [tf.constant(sentences[i:i + batch_size])
                for i in range(0, len(sentences), batch_size)]
    serve = {variant: tf.saved_model.load(str(workdir / variant.replace(":", "-") / "1"))
             .signatures["serving_default"] for variant in variants}
    for variant, signature in serve.items():  # warm-up: tracing, first allocations
        for texts in warmup_texts(workdir / variant.replace(":", "-") / "1"):
            signature(text=tf.constant(texts))
        for request in requests[:3]:
            signature(text=request)
    passes = {variant: [] for variant in variants}
    for _ in range(rounds):
        for variant, signature in serve.items():
            start = time.perf_counter()
            for request in requests:
                signature(text=request)
            passes[variant].append(len(sentences) / (time.perf_counter() - start))
    return passes


def main():
    parser = common.parser(__doc__, quick_help="2 variants, 64 sentences, one round (a smoke run)")
    parser.add_argument("--variants", nargs="+", type=parse_variant,
                        default=["float32:none", "float32:16", "bfloat16:none",
                                 "bfloat16:8", "bfloat16:16", "bfloat16:32"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sentences", type=int, help="the first N dev sentences (default: all 872)")
    args = parser.parse_args()
    if args.quick:
        args.variants, args.sentences, args.rounds = ["float32:none", "bfloat16:16"], 64, 1
    common.limit_threads(args.threads)
    if args.child:
        import tensorflow as tf

        common.tf_threads(tf, args.threads)
        workdir = pathlib.Path(args.workdir)
        if args.child == "export":
            return export_variants(workdir, args.variants)
        passes = time_variants(workdir, args.variants, args.batch_size, args.rounds, args.sentences)
        return common.write_child_result(args, passes)

    options = common.flags(args, "threads", "batch_size", "rounds", "sentences", "variants")
    with common.Children(__file__, options) as children:
        for step in ("export", "time"):
            error = children.run(step)
            if error:
                sys.exit(f"{step} failed: {error}")
        passes = children.result("time")

    print(f"\nSST-2 dev, requests of {args.batch_size}, {args.threads} threads, "
          f"{args.rounds} interleaved passes per variant (sentences/s)")
    print(f"{'variant (dtype:chunk)':<24}{'best':>8}  every pass")
    for variant, rates in passes.items():
        print(f"{variant:<24}{max(rates):8.1f}  {' '.join(f'{rate:.0f}' for rate in rates)}")
    common.write_json(args.json, {"batch_size": args.batch_size, "threads": args.threads,
                                  "sentences_per_s": passes})


if __name__ == "__main__":
    main()
