"""The `tfbert` command line.

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


def build_parser():
    parser = argparse.ArgumentParser(prog="tfbert", description="BERT on Keras 3 / TensorFlow.")
    commands = parser.add_subparsers(dest="command", required=True)

    embed = commands.add_parser("embed", help="sentence vectors from a pretrained encoder")
    embed.add_argument("texts", nargs="*", help="texts (default: built-in examples)")
    embed.add_argument("--file", help="UTF-8 file, one text per line")
    embed.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="directory or short name")
    embed.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    embed.add_argument("--batch-size", type=positive_int, default=32)
    embed.add_argument("--output", help="write vectors to this .npy file")
    embed.set_defaults(run=command_embed)

    tokenize = commands.add_parser("tokenize", help="show how a text is split into tokens")
    tokenize.add_argument("text")
    tokenize.add_argument("--pair", help="second text of a pair")
    tokenize.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    tokenize.set_defaults(run=command_tokenize)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        print(f"tfbert: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
