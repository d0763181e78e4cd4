"""Tokenization: tfbert's in-graph tokenizer against Hugging Face `tokenizers`.

    python bench/tokenization.py [--quick] [--threads 2] [--repeats 3] [--json F]

The sentences: the 872 SST-2 dev sentences, then the first 8,000 SST-2 training
sentences (read from ../shared/data, never copied). Every tokenizer gets the same
job: a Python list of strings in, packed ids out as a padded int numpy array
([CLS] ... [SEP], truncated to 128, padded to the longest row of the batch), on
batches of 64 sentences and on the whole list at once. Each tokenizer runs in its
own process with the same thread count:

- tfbert: `BertTokenizer.from_pretrained(dir, max_length=128)` called inside one
  `tf.function` (string batch of any size in, `input_ids` out).
- tokenizers: `Tokenizer.from_file(dir/tokenizer.json)` with truncation 128 and
  padding, `encode_batch` (Rayon threads capped by RAYON_NUM_THREADS).
- transformers: `BertTokenizerFast(texts, padding=True, truncation=True,
  max_length=128, return_tensors="np")`, the same Rust tokenizer behind the
  Python wrapper most users call.

Sentences/s is the number of sentences over the median time of one pass over them
(after one untimed pass, which traces the tf.function). The ids of the batch-64 pass
are compared with tfbert's, padding stripped.
"""

import pathlib
import time

import common

TOKENIZERS = ["tfbert", "tokenizers", "transformers"]
MAX_LENGTH = 128
BATCH = 64  # the batch size the targets read; the other one is the whole list


def sentences(quick):
    dev = common.sst2_sentences("dev")
    train = common.sst2_sentences("train", 500 if quick else 8000)
    return dev + train


# ------------------------------------------------------------------ children

def tfbert_tokenizer(model_dir, threads):
    import tensorflow as tf

    from tfbert import BertTokenizer

    common.tf_threads(tf, threads)
    tokenizer = BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH)
    # One trace for every batch size: the signature leaves the batch dimension open.
    ids = tf.function(lambda texts: tokenizer(texts)["input_ids"],
                      input_signature=[tf.TensorSpec([None], tf.string)])

    def encode(texts):
        return ids(tf.constant(texts)).numpy()

    return encode, tokenizer.pad_id


def hf_tokenizers(model_dir, threads):  # threads: RAYON_NUM_THREADS, set by limit_threads
    import numpy as np
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(pathlib.Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_LENGTH)
    # No length given: pads to the longest row of the batch, as tfbert does.
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")

    def encode(texts):
        return np.array([e.ids for e in tokenizer.encode_batch(texts)], np.int32)

    return encode, pad_id


def transformers_tokenizer(model_dir, threads):  # the same: RAYON_NUM_THREADS
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(model_dir)

    def encode(texts):
        return tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH,
                         return_tensors="np")["input_ids"]

    return encode, tokenizer.pad_token_id


MAKERS = {"tfbert": tfbert_tokenizer, "tokenizers": hf_tokenizers,
          "transformers": transformers_tokenizer}


def child(name, args):
    """One tokenizer: times both batch sizes, writes <workdir>/<name>.json."""
    texts = sentences(args.quick)
    encode, pad_id = MAKERS[name](args.checkpoint_dir, args.threads)
    results, rows = {}, []
    for size in (BATCH, len(texts)):
        batches = [texts[i:i + size] for i in range(0, len(texts), size)]
        for batch in batches:  # one untimed pass: tracing, first allocations
            encode(batch)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs = [encode(batch) for batch in batches]
            times.append(time.perf_counter() - start)
        label = "all" if size == len(texts) else str(size)
        results[label] = len(texts) / common.median(times)
        print(f"  {name:<13} batch {label:>5}: {results[label]:9.0f} sentences/s", flush=True)
        if size == BATCH:
            # Padding stripped (the pad id never occurs inside a row), so rows compare
            # whatever the length each tokenizer padded its batch to.
            rows = [row[row != pad_id].tolist() for padded in outputs for row in padded]
    common.write_child_result(args, {"sentences_per_s": results, "ids": rows,
                                     "peak_rss_mib": common.peak_rss_mib()})


# -------------------------------------------------------------------- parent

def main():
    parser = common.parser(__doc__, quick_help="dev plus 500 training sentences, one timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the median counts)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    common.limit_threads(args.threads)  # before any tokenizer library is imported
    if args.child:
        return child(args.child, args)

    options = common.flags(args, "threads", "repeats", "quick")
    with common.Children(__file__, options, checkpoint=True) as children:
        results, notes = children.run_all(TOKENIZERS)

    count = len(sentences(args.quick))
    reference = results.get("tfbert")
    print(f"\nTokenization, {count} SST-2 sentences to packed ids (max length 128), "
          f"{args.threads} threads (median of {args.repeats})")
    print(f"{'tokenizer':<14}{'batch':>6}{'sent/s':>10}{'tfbert / this':>15}{'ids = tfbert':>18}")
    summary = {}
    for name, result in results.items():
        same = (sum(a == b for a, b in zip(reference["ids"], result["ids"]))
                if reference else None)
        summary[name] = {"sentences_per_s": result["sentences_per_s"],
                         "peak_rss_mib": result["peak_rss_mib"],
                         "rows_equal_to_tfbert": same}
        for size, rate in result["sentences_per_s"].items():
            ratio = f"{reference['sentences_per_s'][size] / rate:.2f}x" if reference else "-"
            # The ids are compared on the batch-64 pass only.
            equal = f"{same}/{count}" if same is not None and size == str(BATCH) else ""
            print(f"{name:<14}{size:>6}{rate:10.0f}{ratio:>15}{equal:>18}")
    for name, note in notes.items():
        print(f"{name}: {note}")
    common.write_json(args.json, {
        "sentences": count, "threads": args.threads, "repeats": args.repeats,
        "max_length": MAX_LENGTH, "batch_sizes": [BATCH, "all"],
        "tokenizers": summary, "not_run": notes,
    })


if __name__ == "__main__":
    main()
