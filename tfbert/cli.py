"""The `tfbert` command line.

    tfbert train RECIPE.toml [--set KEY=VALUE ...] [--force] [--workers N]
    tfbert search RECIPE.toml [--set KEY=VALUE ...] [--force]   (the recipe's [search] trials)
    tfbert evaluate RUN_DIR --data FILE [--output DIR] [--set KEY=VALUE ...]
    tfbert explain RUN_DIR --input FILE --output WHY.html|WHY.jsonl [--steps 50]
                   [--baseline pad|mask|zero] [--limit N] [--set KEY=VALUE ...]
    tfbert export RUN_DIR [--dir saved_models] [--name NAME] [--version N] [--overwrite]
                  [--compute-dtype float32|float16|bfloat16] [--xla] [--explain]
    tfbert predict RUN_OR_EXPORT --input FILE|GLOB --output FILE.jsonl[.gz] [--shards N] [--top-k K]
                   [--on-error skip] [--force] [--quiet] [--set KEY=VALUE ...]
                   [--server HOST:PORT [--protocol grpc|rest] [--model-name NAME]]
    tfbert embed [TEXT ...] [--file F] [--checkpoint NAME_OR_DIR] [--output out.npy]
                 [--normalize] [--compute-dtype bfloat16] [--export NAME [--dir saved_models]]
                 [--tokens F.jsonl|F.npz]
                 [--static F.txt]
    tfbert tokenize TEXT [--pair TEXT] [--checkpoint NAME_OR_DIR]
    tfbert pretrain RECIPE.toml [--set KEY=VALUE ...] [--workers N]  (task = "pretraining")
    tfbert fill-mask "TEXT with [MASK]" --checkpoint DIR [--top 5]
    tfbert baseline RECIPE.toml [--set KEY=VALUE ...] [--output DIR]   (TF-IDF + linear model)

Every command is quiet: TensorFlow's C++ log lines (CUDA probing on a CPU machine,
oneDNN notes) are kept off stderr unless `--verbose` is given (or TFBERT_VERBOSE=1).

With no texts, `embed` runs on a few built-in sentences and prints their cosine
similarities: a quick check that the checkpoint loads and means something.
"""

import argparse
import json
import os
import pathlib
import sys

DEFAULT_CHECKPOINT = "all-minilm-l6-v2"
EXAMPLE_SENTENCES = [
    "The film was a delight from start to finish.",
    "I loved every minute of this movie.",
    "The service at the restaurant was painfully slow.",
    "Our table waited an hour for cold food.",
]


def positive_int(value):
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def embed_texts(args):
    """A callable that returns the texts of `tfbert embed` afresh (arguments, then the
    --file's lines, streamed), and how many there are (reading the file once checks its
    UTF-8 before any work starts)."""
    import itertools

    from tfbert.features import text_lines

    if not args.texts and not args.file:
        return (lambda: iter(EXAMPLE_SENTENCES)), len(EXAMPLE_SENTENCES)
    count = len(args.texts) + (sum(1 for _ in text_lines(args.file)) if args.file else 0)
    return (lambda: itertools.chain(args.texts, text_lines(args.file) if args.file else [])), count


def command_embed(args):
    import numpy as np

    from tfbert.features import cosine_similarities, sentence_vectors

    for flag, value, suffixes in (("--output", args.output, (".npy",)),
                                  ("--tokens", args.tokens, (".jsonl", ".npz"))):
        if value and not value.endswith(suffixes):
            raise ValueError(f"{flag} {value}: the file must end in {' or '.join(suffixes)}.")
    for flag, value in (("--tokens", args.tokens), ("--static", args.static)):
        if value and args.compute_dtype != "float32":
            raise ValueError(f"--compute-dtype {args.compute_dtype} is for sentence vectors "
                             f"and --export; {flag} is computed in float32.")
    if args.export:
        from tfbert.export import export_for_serving
        from tfbert.tasks.sentence_embedder import SentenceEmbedder

        model = SentenceEmbedder.from_pretrained(args.checkpoint, args.pooling, args.normalize)
        path = export_for_serving(model, args.dir, args.export, compute_dtype=args.compute_dtype)
        print(f"exported {path}: serving_default takes text and returns embedding "
              f"[None, {model.encoder.bert_config.hidden_size}]; over files: tfbert predict "
              f"{path} --input TEXTS.jsonl --output VECTORS.jsonl.gz")
        return
    texts, count = embed_texts(args)
    if args.tokens and args.tokens.endswith(".npz"):
        from tfbert.features import write_token_vectors_npz

        rows, tokens = write_token_vectors_npz(texts, args.checkpoint, args.tokens,
                                               args.batch_size, progress=True)
        print(f"wrote the vectors of {tokens} tokens of {rows} texts to {args.tokens}")
        return
    if args.tokens:
        from tfbert.features import token_vectors

        with open(args.tokens, "w", encoding="utf-8") as f:
            for row in token_vectors(texts(), args.checkpoint, args.batch_size):
                row["vectors"] = [[round(float(x), 6) for x in v] for v in row["vectors"]]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote the token vectors of {count} texts to {args.tokens}")
        return
    if args.static:
        from tfbert.features import write_static_vectors

        written = write_static_vectors(texts(), args.checkpoint, args.static)
        print(f"wrote {written} static token vectors (word2vec text format) to {args.static}")
        return
    vectors = sentence_vectors(texts(), args.checkpoint, args.pooling, args.batch_size,
                               normalize=args.normalize, output=args.output, count=count,
                               progress=bool(args.output), compute_dtype=args.compute_dtype)
    if args.output:
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} {args.pooling}-pooled vectors to {args.output}")
        return
    print(f"{args.pooling}-pooled {args.checkpoint} embeddings, cosine similarity:")
    for i, (row, text) in enumerate(zip(cosine_similarities(np.asarray(vectors)), texts())):
        print(f"  [{i}] {' '.join(f'{value:5.2f}' for value in row)}  {text[:60]}")


def command_tokenize(args):
    from tfbert.features import tokens

    print(json.dumps(tokens(args.text, args.pair, args.checkpoint), ensure_ascii=False))


def command_train(args):
    from tfbert.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set or ())  # a bad recipe fails here, once
    if getattr(args, "workers", None):
        # The launcher only starts and watches the workers: it never imports TensorFlow.
        from tfbert.training.launcher import launch

        arguments = [args.command, args.recipe, *(f"--set={item}" for item in args.set or ()),
                     *(["--force"] if args.force else []), *(["--verbose"] if args.verbose else [])]
        code = launch(arguments, args.workers)
        if code:
            sys.exit(code)
        return
    from tfbert.train import train

    result = train(recipe, force=args.force)
    if result.get("train_examples_per_second"):
        print(f"trained {result['steps_run']} steps (of {result['steps']}) in "
              f"{result['train_seconds']:.0f} s ({result['train_examples_per_second']:.1f} "
              f"examples/s); run in {result['output_dir']}")


def command_search(args):
    from tfbert.recipe import load_recipe
    from tfbert.search import run_search

    run_search(load_recipe(args.recipe, args.set or ()), force=args.force)


def command_pretrain(args):
    from tfbert.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set or ())
    if recipe.task != "pretraining":
        raise ValueError(f"{args.recipe}: task = {recipe.task!r}; tfbert pretrain runs recipes with "
                         "task = \"pretraining\" (tfbert train runs the others).")
    command_train(args)


def command_fill_mask(args):
    from tfbert.tasks.masked_lm import MaskedLanguageModel

    model = MaskedLanguageModel.from_pretrained(args.checkpoint)
    for text, masks in zip(args.texts, model.fill_mask(args.texts, args.top)):
        print(text)
        for number, candidates in enumerate(masks, start=1):
            print(f"  [MASK] {number}: " + ", ".join(f"{token} {p:.3f}" for token, p in candidates))


def command_export(args):
    from tfbert.run_directory import export_run

    path = export_run(args.run, args.dir, args.name, version=args.version,
                      overwrite=args.overwrite, compute_dtype=args.compute_dtype,
                      jit_compile=args.xla, explain=args.explain)
    print(f"exported {path} (serve it with {pathlib.Path(path).parent.parent / 'serve.sh'})")


def command_evaluate(args):
    from tfbert.evaluate import evaluate_file

    _, summary, output = evaluate_file(args.run, args.data, args.output, args.on_unknown, args.set)
    print(summary)
    print(f"wrote {output}/metrics.json and predictions")


def command_explain(args):
    from tfbert.explain import explain_file

    explain_file(args.run, args.input, args.output, steps=args.steps, baseline=args.baseline,
                 limit=args.limit, data_overrides=args.set)


def command_baseline(args):
    from tfbert.evaluation.baseline import run_baseline
    from tfbert.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set or ())
    result = run_baseline(recipe, args.output)
    if result is None:
        raise ValueError(f"{args.recipe}: task {recipe.task!r} has no bag-of-words baseline "
                         f"(classification and regression have).")
    metric = recipe.training.eval_metric  # load_recipe fills in the task's own
    print(f"{result['model']}, trained in {result['seconds']:.1f} s")
    for split in ("dev", "test"):
        if split in result:
            print(f"  {split} {metric}: {result[split].get(metric, float('nan')):.4f}")
    if not any(split in result for split in ("dev", "test")):
        print("  (the recipe has no dev or test file to score it on)")


def command_predict(args):
    if args.runner:
        return command_predict_with_beam(args)
    from tfbert.predict import predict_files

    log = (lambda message: None) if args.quiet else print
    result = predict_files(args.run, args.input, args.output, args.batch_size, args.set,
                           server=args.server, protocol=args.protocol,
                           model_name=args.model_name, timeout=args.timeout, top_k=args.top_k,
                           shards=args.shards, on_error=args.on_error, force=args.force,
                           progress=False if args.quiet else None, log=log)
    files = result["files"]
    log(f"{result['rows']} predictions in {files[0] if len(files) == 1 else f'{len(files)} shards: ' + files[0] + ', ...'}")


def command_predict_with_beam(args):
    for flag, value in (("--server", args.server), ("--shards", args.shards != 1),
                        ("--force", args.force)):
        if value:
            raise ValueError(f"{flag} is for predicting on this machine; a Beam pipeline "
                             "(--runner) writes its own shards and does not resume.")
    try:
        from tfbert.beam import run_pipeline
    except ImportError as error:
        raise ValueError(f"--runner needs Apache Beam ({error}): pip install 'tfbert[beam]'.") from None
    run_pipeline(args.run, args.input, args.output, args.runner, export_dir=args.export,
                 top_k=args.top_k, batch_size=args.batch_size, on_error=args.on_error,
                 data_overrides=args.set, beam_args=args.beam_args)
    print(f"the pipeline wrote {args.output} (sharded: see its -NNNNN-of-NNNNN files)")


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines (also: TFBERT_VERBOSE=1)")
    parser = argparse.ArgumentParser(prog="tfbert", description="BERT on Keras 3 / TensorFlow.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser
    commands.add_parser = lambda *args, **kwargs: add_parser(*args, parents=[common], **kwargs)

    for name, handler, help_text, force_help in (
            ("train", command_train, "fine-tune, evaluate and export from a recipe",
             "replace a finished run in the recipe's output_dir"),
            ("search", command_search, "hyperparameter search (KerasTuner) over the recipe's "
             "[search] values; resumes when started again",
             "discard an earlier search in runs/NAME/search and start afresh")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("recipe", help="a TOML recipe, e.g. recipes/sentiment.toml")
        command.add_argument("--set", action="append", metavar="KEY=VALUE",
                             help="override a recipe key, e.g. training.epochs=1 (repeatable)")
        command.add_argument("--force", action="store_true", help=force_help)
        command.set_defaults(handler=handler)
        if name == "train":
            command.add_argument("--workers", type=positive_int, metavar="N",
                                 help='training.distribute = "multi_worker" as N processes on '
                                      "this machine (127.0.0.1, free ports, TF_CONFIG made for each)")

    evaluate = commands.add_parser("evaluate", help="score a trained run on a labelled file")
    evaluate.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    evaluate.add_argument("--data", required=True, help="labelled file (same columns as training)")
    evaluate.add_argument("--output", help="report directory (default: RUN/eval)")
    evaluate.add_argument("--on-unknown", choices=("error", "skip", "keep"), default="error",
                          help="what to do with labels the model does not know")
    evaluate.add_argument("--set", action="append", metavar="data.KEY=VALUE",
                          help="override a data key, e.g. data.text_column=sentence")
    evaluate.set_defaults(handler=command_evaluate)

    explain = commands.add_parser(
        "explain", help="why a run answered as it did: one attribution per word "
        "(integrated gradients), as JSON lines or an HTML page")
    explain.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    explain.add_argument("--input", required=True, help="file with the text column(s)")
    explain.add_argument("--output", required=True, help="WHY.html (one page) or WHY.jsonl")
    explain.add_argument("--steps", type=positive_int, default=50,
                         help="points on the path from the baseline (more: a smaller "
                              "completeness gap, slower)")
    explain.add_argument("--baseline", choices=("pad", "mask", "zero"), default="pad",
                         help="what each word piece is replaced by at the path's start")
    explain.add_argument("--limit", type=positive_int, help="the first N texts only")
    explain.add_argument("--set", action="append", metavar="data.KEY=VALUE",
                         help="override a data key, e.g. data.text_column=sentence")
    explain.set_defaults(handler=command_explain)

    predict = commands.add_parser(
        "predict", help="label files of texts with a trained run, window by window; started "
        "again after a kill, goes on where it stopped")
    predict.add_argument("run", metavar="RUN_OR_EXPORT",
                         help="the run directory tfbert train made (runs/NAME), or an export "
                              "(saved_models/NAME or one of its versions)")
    predict.add_argument("--input", required=True, action="append",
                         help="file with the text column(s): a path, a glob ('texts/*.tsv') or "
                              "a tf.io.gfile path (gs://...); repeatable")
    predict.add_argument("--output", required=True,
                         help="JSON lines out (local); ending in .gz: gzip")
    predict.add_argument("--shards", type=positive_int, default=1,
                         help="write N files, OUTPUT-0000i-of-0000N (windows in turn)")
    predict.add_argument("--top-k", type=positive_int, metavar="K",
                         help="probabilities of the K most likely labels per row (default: all "
                              "below 20 labels, else 5)")
    predict.add_argument("--on-error", choices=("error", "skip"), default="error",
                         help="a malformed input row: stop naming its file and line (error), or "
                              "set it aside in OUTPUT-STEM.rejects.jsonl with the reason (skip)")
    predict.add_argument("--force", action="store_true",
                         help="start over instead of going on from an earlier run's output")
    predict.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    predict.add_argument("--batch-size", type=positive_int, default=64)
    predict.add_argument("--set", action="append", metavar="data.KEY=VALUE")
    predict.add_argument("--server", metavar="HOST:PORT",
                         help="ask TF Serving instead of loading the model (gRPC 8500, REST 8501)")
    predict.add_argument("--protocol", choices=("grpc", "rest"), default="grpc")
    predict.add_argument("--model-name", help="the served model's name (default: the run's export name)")
    predict.add_argument("--timeout", type=float, default=30.0, help="seconds per request to --server")
    predict.add_argument("--runner", metavar="RUNNER",
                         help="run an Apache Beam pipeline instead (DirectRunner, DataflowRunner, "
                              "FlinkRunner, SparkRunner); options tfbert does not know go to Beam")
    predict.add_argument("--export", metavar="DIR",
                         help="with --runner: the exported SavedModel to run (default: the run's "
                              "newest export; a bucket path for a remote runner)")
    predict.set_defaults(handler=command_predict)

    export = commands.add_parser("export", help="write a SavedModel for TF Serving from a run")
    export.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    export.add_argument("--dir", help="base directory (default: the recipe's export.dir)")
    export.add_argument("--name", help="model name (default: the recipe's export name)")
    export.add_argument("--version", type=positive_int, help="default: the next free number")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--compute-dtype", choices=("float32", "float16", "bfloat16"),
                        default="float32", help="float16 for GPU serving; I/O stays float32")
    export.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                        help="the encoder XLA-compiled on bucketed shapes (faster single "
                             "requests on CPU; default: the recipe's export.xla)")
    export.add_argument("--explain", action=argparse.BooleanOptionalAction, default=None,
                        help="also serve an `explain` signature: each word's attribution "
                             "(default: the recipe's export.explain)")
    export.set_defaults(handler=command_export)

    embed = commands.add_parser("embed", help="sentence vectors from a pretrained encoder")
    embed.add_argument("texts", nargs="*", help="texts (default: built-in examples)")
    embed.add_argument("--file", help="UTF-8 file, one text per line")
    embed.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="directory or short name")
    embed.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    embed.add_argument("--normalize", action="store_true", help="scale each vector to length 1")
    embed.add_argument("--batch-size", type=positive_int, default=32)
    embed.add_argument("--compute-dtype", choices=("float32", "bfloat16", "float16"),
                       default="float32", help="sentence vectors and --export: bfloat16 is faster "
                       "on CPUs with AMX / AVX512_BF16, float16 on GPUs (vectors stay float32)")
    embed.add_argument("--output", metavar="FILE.npy",
                       help="write the vectors to this .npy file, batch by batch")
    embed.add_argument("--tokens", metavar="FILE.jsonl|FILE.npz",
                       help="instead: each text's token vectors, tokens and word byte spans")
    embed.add_argument("--static", metavar="FILE.txt",
                       help="instead: the input embedding of every token in the texts "
                            "(word2vec text format)")
    embed.add_argument("--export", metavar="NAME",
                       help="instead: export text -> embedding for TF Serving as DIR/NAME/<version>")
    embed.add_argument("--dir", default="saved_models", help="where --export writes")
    embed.set_defaults(handler=command_embed)

    pretrain = commands.add_parser("pretrain", help="masked-LM pretraining from a recipe; "
                                   "writes a Hugging Face checkpoint")
    pretrain.add_argument("recipe", help="a TOML recipe with task = \"pretraining\", e.g. "
                          "recipes/pretrain.toml")
    pretrain.add_argument("--set", action="append", metavar="KEY=VALUE")
    pretrain.add_argument("--force", action="store_true",
                          help="replace a finished run in the recipe's output_dir")
    pretrain.add_argument("--workers", type=positive_int, metavar="N",
                          help="as for train: N multi_worker processes on this machine")
    pretrain.set_defaults(handler=command_pretrain)

    baseline = commands.add_parser("baseline", help="a TF-IDF + linear model on a recipe's data, "
                                   "scored like the BERT run (seconds)")
    baseline.add_argument("recipe")
    baseline.add_argument("--set", action="append", metavar="KEY=VALUE")
    baseline.add_argument("--output", help="write OUTPUT/baseline/metrics.json")
    baseline.set_defaults(handler=command_baseline)

    fill_mask = commands.add_parser("fill-mask", help="the likeliest words for each [MASK]")
    fill_mask.add_argument("texts", nargs="+", help='e.g. "the film was [MASK] ."')
    fill_mask.add_argument("--checkpoint", required=True,
                           help="a checkpoint with a masked-LM head (what pretrain writes)")
    fill_mask.add_argument("--top", type=positive_int, default=5)
    fill_mask.set_defaults(handler=command_fill_mask)

    tokenize = commands.add_parser("tokenize", help="show how a text is split into tokens")
    tokenize.add_argument("text")
    tokenize.add_argument("--pair", help="second text of a pair")
    tokenize.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    tokenize.set_defaults(handler=command_tokenize)
    return parser


def main(argv=None):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    # Options tfbert does not know are Beam's (--project, --region, --flink_master, ...)
    # when `predict` runs a Beam pipeline; anywhere else, an error.
    args.beam_args = unknown
    if unknown and not getattr(args, "runner", None):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.verbose or os.environ.get("TFBERT_VERBOSE", "") not in ("", "0"):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # tfbert/__init__.py sets 2
    else:
        from tfbert.io.quiet_logs import filter_stderr

        filter_stderr()
    from tfbert.serving.errors import ServingError

    try:
        args.handler(args)
    except (FileNotFoundError, NotADirectoryError, FileExistsError, ValueError, ServingError) as error:
        print(f"tfbert: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
