"""The `tfbert` command line.

    tfbert train RECIPE.toml [--set KEY=VALUE ...]
    tfbert evaluate RUN_DIR --data FILE [--output DIR] [--set KEY=VALUE ...]
    tfbert export RUN_DIR [--dir saved_models] [--name NAME] [--version N] [--overwrite]
    tfbert predict RUN_DIR --input FILE --output FILE.jsonl [--set KEY=VALUE ...]
                   [--server HOST:PORT [--protocol grpc|rest] [--model-name NAME]]
    tfbert embed [TEXT ...] [--file F] [--checkpoint NAME_OR_DIR] [--output out.npy]
    tfbert tokenize TEXT [--pair TEXT] [--checkpoint NAME_OR_DIR]

With no texts, `embed` runs on a few built-in sentences and prints their cosine
similarities: a quick check that the checkpoint loads and means something.
"""

import argparse
import json
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


def read_texts(args):
    texts = list(args.texts)
    if args.file:
        path = pathlib.Path(args.file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise SystemExit(f"tfbert: input file not found: {path}")
        except UnicodeDecodeError as error:
            raise SystemExit(f"tfbert: {path} is not UTF-8 text (byte {error.start}).")
        texts += lines
    return texts or EXAMPLE_SENTENCES


def mean_pool(sequence_output, input_mask):
    """Average of the real tokens' vectors: [batch, seq, hidden] -> [batch, hidden]."""
    import numpy as np

    mask = np.asarray(input_mask, np.float32)[:, :, None]
    return (np.asarray(sequence_output, np.float32) * mask).sum(1) / np.maximum(mask.sum(1), 1)


def command_embed(args):
    import numpy as np

    from tfbert import from_pretrained

    texts = read_texts(args)
    tokenizer, encoder = from_pretrained(args.checkpoint)
    vectors = []
    for start in range(0, len(texts), args.batch_size):
        inputs = tokenizer(texts[start : start + args.batch_size])
        outputs = encoder(inputs, training=False)
        if args.pooling == "mean":
            vectors.append(mean_pool(outputs["sequence_output"], inputs["input_mask"]))
        else:
            vectors.append(np.asarray(outputs["pooled_output"], np.float32))
    vectors = np.concatenate(vectors)
    if args.output:
        np.save(args.output, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} {args.pooling}-pooled vectors to {args.output}")
        return
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    print(f"{args.pooling}-pooled {args.checkpoint} embeddings, cosine similarity:")
    for i, text in enumerate(texts):
        row = " ".join(f"{value:5.2f}" for value in similarity[i])
        print(f"  [{i}] {row}  {text[:60]}")


def command_tokenize(args):
    from tfbert import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(args.checkpoint)
    inputs = tokenizer([args.text], None if args.pair is None else [args.pair])
    length = int(inputs["input_mask"][0].numpy().sum())
    ids = inputs["input_ids"][0, :length].numpy().tolist()
    print(json.dumps({
        "tokens": [tokenizer.vocabulary[i] for i in ids],
        "input_ids": ids,
        "segment_ids": inputs["segment_ids"][0, :length].numpy().tolist(),
    }, ensure_ascii=False))


def command_train(args):
    from tfbert.recipe import load_recipe
    from tfbert.training.run import train

    result = train(load_recipe(args.recipe, args.set or ()))
    if result.get("train_examples_per_second"):
        print(f"trained {result['steps']} steps in {result['train_seconds']:.0f} s "
              f"({result['train_examples_per_second']:.1f} examples/s); run in {result['output_dir']}")


def load_run(run_dir, overrides):
    """The trained model and recipe of a run directory (as `tfbert train` leaves it)."""
    import keras

    import tfbert.tasks  # noqa: F401  (registers the task classes that load_model looks up)

    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "model.keras").exists():
        raise FileNotFoundError(f"{run_dir} is not a training run: no model.keras (made by `tfbert train`).")
    recipe = run_recipe(run_dir, overrides)
    return keras.models.load_model(run_dir / "model.keras"), recipe


def run_recipe(run_dir, overrides):
    """The recipe of a run directory (its recipe.json), with data.* overrides."""
    from tfbert.recipe import RecipeError, parse_override, recipe_from_dict

    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "recipe.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a training run: no recipe.json (made by `tfbert train`).")
    values = json.loads((run_dir / "recipe.json").read_text())
    for text in overrides or ():
        path, value = parse_override(text)
        if path[0] != "data" or len(path) != 2:
            raise RecipeError(f"--set {text!r}: only data.* keys can be changed here.")
        values["data"][path[1]] = value
    return recipe_from_dict(values, source=str(run_dir / "recipe.json"))


def command_export(args):
    from tfbert.export import export_for_serving

    model, recipe = load_run(args.run, None)
    path = export_for_serving(model, args.dir or recipe.export.dir, args.name or recipe.export.name
                              or recipe.name, version=args.version, overwrite=args.overwrite,
                              compute_dtype=args.compute_dtype)
    print(f"exported {path} (serve it with {pathlib.Path(path).parent.parent / 'serve.sh'})")


def command_evaluate(args):
    from tfbert.training.evaluate import evaluate_examples
    from tfbert.training.examples import read_split

    model, recipe = load_run(args.run, args.set)
    examples = read_split(recipe, args.data)
    output = pathlib.Path(args.output or pathlib.Path(args.run) / "eval")
    _, report = evaluate_examples(recipe, model, examples, output, on_unknown=args.on_unknown)
    print(report)
    print(f"wrote {output}/metrics.json and predictions")


def predict_with_server(args, recipe, examples):
    """model.predict's answer (labels/probabilities or scores) from TF Serving, and
    the label names (from the classify signature, whose classes are the names in order)."""
    from tfbert.serving import make_client

    name = args.model_name or recipe.export.name or recipe.name
    client = make_client(args.server, name, args.protocol, timeout=args.timeout)
    labels, probabilities, scores = [], [], []
    for start in range(0, len(examples), args.batch_size):
        texts = examples.texts[start : start + args.batch_size]
        pairs = None if examples.text_pairs is None else examples.text_pairs[start : start + args.batch_size]
        outputs = client.predict(texts, pairs)
        if recipe.task == "regression":
            scores.extend(outputs["score"].tolist())
            continue
        labels.extend(str(label) for label in outputs["label"])
        probabilities.extend(outputs["probabilities"])
    if recipe.task == "regression":
        return {"scores": scores}, None
    if recipe.data.multi_label:  # the export joins the labels over the threshold
        labels = [label.split(recipe.data.label_separator) for label in labels]
    label_names = []
    if len(examples):
        first_pair = None if examples.text_pairs is None else examples.text_pairs[:1]
        label_names = [label for label, _ in client.classify(examples.texts[:1], first_pair)[0]]
    return {"labels": labels, "probabilities": probabilities}, label_names


def command_predict(args):
    from tfbert.training.examples import model_inputs, read_split

    if args.server:  # TF Serving does the work: no model to load here
        model, recipe = None, run_recipe(args.run, args.set)
    else:
        model, recipe = load_run(args.run, args.set)
    recipe.data.label_column = ""  # a file to predict need not carry labels
    examples = read_split(recipe, args.input)
    if model is None:
        predicted, label_names = predict_with_server(args, recipe, examples)
    else:
        predicted = model.predict(model_inputs(recipe, examples), batch_size=args.batch_size)
        label_names = getattr(model, "label_names", None)
    with open(args.output, "w", encoding="utf-8") as f:
        for i, line in enumerate(examples.line_numbers):
            row = {"line": line, "text": examples.texts[i]}
            if examples.text_pairs is not None:
                row["text_pair"] = examples.text_pairs[i]
            if "scores" in predicted:
                row["score"] = float(predicted["scores"][i])
            else:
                row["label"] = predicted["labels"][i]
                row["probabilities"] = {
                    name: round(float(p), 6)
                    for name, p in zip(label_names, predicted["probabilities"][i])
                }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(examples)} predictions to {args.output}")


def build_parser():
    parser = argparse.ArgumentParser(prog="tfbert", description="BERT on Keras 3 / TensorFlow.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fine-tune, evaluate and export from a recipe")
    train.add_argument("recipe", help="a TOML recipe, e.g. recipes/sentiment.toml")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a recipe key, e.g. training.epochs=1 (repeatable)")
    train.set_defaults(handler=command_train)

    evaluate = commands.add_parser("evaluate", help="score a trained run on a labelled file")
    evaluate.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    evaluate.add_argument("--data", required=True, help="labelled file (same columns as training)")
    evaluate.add_argument("--output", help="report directory (default: RUN/eval)")
    evaluate.add_argument("--on-unknown", choices=("error", "skip"), default="error",
                          help="what to do with labels the model does not know")
    evaluate.add_argument("--set", action="append", metavar="data.KEY=VALUE",
                          help="override a data key, e.g. data.text_column=sentence")
    evaluate.set_defaults(handler=command_evaluate)

    predict = commands.add_parser("predict", help="label a file of texts with a trained run")
    predict.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    predict.add_argument("--input", required=True, help="file with the text column(s)")
    predict.add_argument("--output", required=True, help="JSON lines out")
    predict.add_argument("--batch-size", type=positive_int, default=64)
    predict.add_argument("--set", action="append", metavar="data.KEY=VALUE")
    predict.add_argument("--server", metavar="HOST:PORT",
                         help="ask TF Serving instead of loading the model (gRPC 8500, REST 8501)")
    predict.add_argument("--protocol", choices=("grpc", "rest"), default="grpc")
    predict.add_argument("--model-name", help="the served model's name (default: the run's export name)")
    predict.add_argument("--timeout", type=float, default=30.0, help="seconds per request to --server")
    predict.set_defaults(handler=command_predict)

    export = commands.add_parser("export", help="write a SavedModel for TF Serving from a run")
    export.add_argument("run", help="the run directory tfbert train made (runs/NAME)")
    export.add_argument("--dir", help="base directory (default: the recipe's export.dir)")
    export.add_argument("--name", help="model name (default: the recipe's export name)")
    export.add_argument("--version", type=positive_int, help="default: the next free number")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--compute-dtype", choices=("float32", "float16", "bfloat16"),
                        default="float32", help="float16 for GPU serving; I/O stays float32")
    export.set_defaults(handler=command_export)

    embed = commands.add_parser("embed", help="sentence vectors from a pretrained encoder")
    embed.add_argument("texts", nargs="*", help="texts (default: built-in examples)")
    embed.add_argument("--file", help="UTF-8 file, one text per line")
    embed.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="directory or short name")
    embed.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    embed.add_argument("--batch-size", type=positive_int, default=32)
    embed.add_argument("--output", help="write vectors to this .npy file")
    embed.set_defaults(handler=command_embed)

    tokenize = commands.add_parser("tokenize", help="show how a text is split into tokens")
    tokenize.add_argument("text")
    tokenize.add_argument("--pair", help="second text of a pair")
    tokenize.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    tokenize.set_defaults(handler=command_tokenize)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from tfbert.serving import ServingError

    try:
        args.handler(args)
    except (FileNotFoundError, NotADirectoryError, FileExistsError, ValueError, ServingError) as error:
        print(f"tfbert: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
