"""Token tagging speed on CoNLL-2003: tfbert TokenClassifier against transformers.

    python bench/tagging_speed.py [--quick] [--examples 960] [--sentences N] [--passes 1]
        [--only training serving] [--threads 2] [--json F]

The same all-MiniLM-L6-v2 weights (head random: speed only), CoNLL-2003 read in place
from ../shared/data/conll2003 with `read_tagged` (by this parent, which passes the
sentences to its children in a JSON file), the same thread count in every child.
Each row runs in a fresh process of its own (the `Children` protocol of common.py).

1. Fine-tuning, examples/s (the first --examples training sentences after 3 warm-up
   steps of batch 32; max length 128, AdamW 1e-4 as recipes/ner.toml):
   - tfbert crf / softmax: `TokenClassifier(crf=True|False).fit` (seed 0): its
     length-bucketed plan, each batch padded to its longest row; tokenized before
     the timer.
   - transformers: `BertForTokenClassification(num_labels=9)` in a plain PyTorch loop,
     `BertTokenizerFast(is_split_into_words=True)` before the timer, the label on the
     first piece of each word and -100 elsewhere, on tfbert's batch plan rebuilt
     (`train_speed.length_grouped_batches`: same algorithm and seed, so the same
     batches when the two tokenizers give the same lengths; padded tokens show it),
     each batch padded to its longest row in the loop.
2. Serving raw text to entities (the CoNLL test sentences, words joined by spaces, in
   requests of 64, file order, 2 warm-up requests, then --passes timed passes):
   sentences/s and the p50/p99 latency of one request.
   - tfbert crf / softmax: `tf.saved_model.load(export).signatures["serving_default"]`
     in a process that imports only tensorflow and tensorflow_text; the exports
     (`export_for_serving`) are written in an earlier, separate process. In-graph:
     word split, WordPiece, windows, encoder, CRF Viterbi or argmax, entity spans.
   - transformers: `pipeline("token-classification", aggregation_strategy="simple")`,
     batch_size 64, with tfbert softmax's tag head copied into its classifier (so the
     two find comparable numbers of entities; the table prints them).
   "tfbert softmax / tfbert crf" is the cost of CRF decoding in the served graph.

Figures go to bench/results/tagging.json (--quick: bench/results/quick/tagging.json).
"""

import json
import pathlib
import time

import common
from train_speed import length_grouped_batches, padded_tokens, step_timer

TRAIN_ROWS = ["tfbert crf", "tfbert softmax", "transformers"]
SERVE_PATHS = ["tfbert crf", "tfbert softmax", "transformers"]
# tfbert's tag names for CoNLL's types (tag_names_for({LOC, MISC, ORG, PER}, "iob2")).
TAG_NAMES = ["O"] + [f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in "BI"]
LEARNING_RATE, MAX_LENGTH, REQUEST, SEED = 1e-4, 128, 64, 0
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def load_data(workdir):
    return json.loads((pathlib.Path(workdir) / "conll.json").read_text())


# ----------------------------------------------------------------- training

def tfbert_train(model_dir, words, tags, args, crf):
    import keras
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.tasks.token_classifier import TokenClassifier

    common.tf_threads(tf, args.threads)
    model = TokenClassifier(BertEncoder.from_pretrained(model_dir),
                            BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                            TAG_NAMES, scheme="iob2", crf=crf)
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE))
    data = model.tokenize(words, tags)  # before the timer; fit takes it as it is
    padded = padded_tokens(data.lengths,
                           data.plan(args.batch_size, shuffle=True, seed=SEED)[args.warmup_steps:])
    timer = step_timer(args.warmup_steps)
    model.fit(data, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True, seed=SEED,
              callbacks=[timer])
    return timer.seconds, padded


def transformers_train(model_dir, words, tags, args):
    import numpy as np
    import torch
    from transformers import BertForTokenClassification, BertTokenizerFast

    torch.set_num_threads(args.threads)
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = BertForTokenClassification.from_pretrained(model_dir, num_labels=len(TAG_NAMES))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=MAX_LENGTH)
    index = {name: i for i, name in enumerate(TAG_NAMES)}
    labels = []  # the first piece of each word gets its tag; other pieces, specials -100
    for i, sentence_tags in enumerate(tags):
        previous, row = None, []
        for word in encoded.word_ids(i):
            row.append(-100 if word is None or word == previous else index[sentence_tags[word]])
            previous = word
        labels.append(row)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    batches = length_grouped_batches(lengths, args.batch_size, seed=SEED)

    def collate(batch):
        """Each batch padded to its own longest row (DataCollatorForTokenClassification)."""
        width = max(lengths[i] for i in batch)
        features = {}
        for name, column, pad in (("input_ids", encoded["input_ids"], tokenizer.pad_token_id),
                                  ("token_type_ids", encoded["token_type_ids"], 0),
                                  ("attention_mask", encoded["attention_mask"], 0),
                                  ("labels", labels, -100)):
            rows = np.full((len(batch), width), pad, np.int64)
            for row, i in enumerate(batch):
                rows[row, :lengths[i]] = column[i]
            features[name] = torch.from_numpy(rows)
        return features

    started = None
    for step, batch in enumerate(batches):
        if step == args.warmup_steps:
            started = time.perf_counter()
        loss = model(**collate(batch)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started, padded_tokens(lengths, batches[args.warmup_steps:])


def train_child(row, args):
    data = load_data(args.workdir)
    words, tags = data["train_words"], data["train_tags"]
    if row == "transformers":
        seconds, padded = transformers_train(args.checkpoint_dir, words, tags, args)
    else:
        seconds, padded = tfbert_train(args.checkpoint_dir, words, tags, args, row == "tfbert crf")
    rate = args.examples / seconds
    print(f"  {row:<16}{rate:8.1f} examples/s  {padded} padded tokens "
          f"({args.examples} examples in {seconds:.1f} s)", flush=True)
    common.write_child_result(args, {"examples_per_s": rate, "seconds": seconds,
                                     "padded_tokens": padded, "peak_rss_mib": common.peak_rss_mib()})


# ------------------------------------------------------------------ serving

def export_tfbert(workdir, model_dir, threads):
    import keras
    import numpy as np
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.export import export_for_serving
    from tfbert.tasks.token_classifier import TokenClassifier

    common.tf_threads(tf, threads)
    keras.utils.set_random_seed(0)
    tasks = {name: TokenClassifier(BertEncoder.from_pretrained(model_dir),
                                   BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                                   TAG_NAMES, scheme="iob2", crf=name == "crf")
             for name in ("softmax", "crf")}
    tasks["crf"].tag_dense.set_weights(tasks["softmax"].tag_dense.get_weights())  # one head
    for name, task in tasks.items():
        export_for_serving(task, workdir / "saved_models", f"conll-{name}", version=1,
                           overwrite=True, deployment_files=False)
    np.save(workdir / "head_kernel.npy", tasks["softmax"].tag_dense.kernel.numpy())
    np.save(workdir / "head_bias.npy", tasks["softmax"].tag_dense.bias.numpy())


def tfbert_server(workdir, model_dir, threads, head):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops the graph uses)

    common.tf_threads(tf, threads)
    serve = tf.saved_model.load(str(workdir / "saved_models" / f"conll-{head}" / "1"))
    serve = serve.signatures["serving_default"]

    def predict(texts):  # what a client gets: every output as numpy
        outputs = {key: value.numpy() for key, value in serve(text=tf.constant(texts)).items()}
        return int(outputs["entity_count"].sum())

    return predict


def transformers_server(workdir, model_dir, threads, head=None):
    import numpy as np
    import torch
    from transformers import BertForTokenClassification, BertTokenizerFast, pipeline

    torch.set_num_threads(threads)
    model = BertForTokenClassification.from_pretrained(
        model_dir, num_labels=len(TAG_NAMES), id2label=dict(enumerate(TAG_NAMES)),
        label2id={name: i for i, name in enumerate(TAG_NAMES)}).eval()
    with torch.no_grad():  # tfbert softmax's head; torch's Linear keeps [out, in]
        model.classifier.weight.copy_(torch.from_numpy(np.load(workdir / "head_kernel.npy").T))
        model.classifier.bias.copy_(torch.from_numpy(np.load(workdir / "head_bias.npy")))
    tagger = pipeline("token-classification", model=model,
                      tokenizer=BertTokenizerFast.from_pretrained(model_dir),
                      aggregation_strategy="simple", device="cpu")

    def predict(texts):
        return sum(len(entities) for entities in tagger(texts, batch_size=REQUEST))

    return predict


def serve_child(path, args):
    workdir = pathlib.Path(args.workdir)
    texts = load_data(workdir)["test_texts"]
    if path == "transformers":
        predict = transformers_server(workdir, args.checkpoint_dir, args.threads)
    else:
        predict = tfbert_server(workdir, args.checkpoint_dir, args.threads, path.split()[1])
    requests = [texts[i:i + REQUEST] for i in range(0, len(texts), REQUEST)]
    for request in requests[:2]:  # warm-up, not timed
        predict(request)
    latencies, entities = [], 0
    for _ in range(args.passes):
        entities = 0
        for request in requests:
            start = time.perf_counter()
            entities += predict(request)
            latencies.append(time.perf_counter() - start)
    rate = args.passes * len(texts) / sum(latencies)
    print(f"  {path:<16}{rate:8.1f} sentences/s", flush=True)
    common.write_child_result(args, {
        "sentences_per_s": rate, "p50_ms": 1000 * common.percentile(latencies, 50),
        "p99_ms": 1000 * common.percentile(latencies, 99), "requests_timed": len(latencies),
        "entities_found": entities, "peak_rss_mib": common.peak_rss_mib()})


def child(step, args):
    if step == "export-tfbert":
        return export_tfbert(pathlib.Path(args.workdir), args.checkpoint_dir, args.threads)
    part, row = step.split(" ", 1)
    return (train_child if part == "train" else serve_child)(row, args)


# ------------------------------------------------------------------- parent

def write_data(workdir, args):
    """CoNLL-2003 read in place; the sentences the children use, as JSON in workdir."""
    from tfbert.data.tagged_readers import read_tagged  # pure Python: no TensorFlow

    train = read_tagged(common.DATA / "conll2003" / "train.txt")
    count = args.examples + args.warmup_steps * args.batch_size
    test = read_tagged(common.DATA / "conll2003" / "test.txt", tags=False).texts
    data = {"train_words": train.words[:count], "train_tags": train.tags[:count],
            "test_texts": test[:args.sentences] if args.sentences else test}
    (workdir / "conll.json").write_text(json.dumps(data))
    return len(data["test_texts"])


def ratio(figures, key, top, bottom):
    if top in figures and bottom in figures:
        return figures[top][key] / figures[bottom][key]
    return None


def times(value, width):
    return f"{'-' if value is None else f'{value:.2f}x':>{width}}"


def main():
    parser = common.parser(__doc__, quick_help="64 training examples, 128 test sentences")
    parser.add_argument("--examples", type=int, default=960, help="timed training examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--sentences", type=int, help="the first N test sentences (default all)")
    parser.add_argument("--passes", type=int, default=1, help="timed passes over the sentences")
    parser.add_argument("--only", nargs="+", choices=["training", "serving"])
    args = parser.parse_args()
    if args.quick:
        args.examples, args.sentences, args.passes = 64, args.sentences or 128, 1
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    parts = args.only or ["training", "serving"]
    machine = common.machine()
    options = common.flags(args, "threads", "examples", "batch_size", "warmup_steps", "passes")
    train, serve, notes = {}, {}, {}
    with common.Children(__file__, options, checkpoint=True) as children:
        count = write_data(children.workdir, args)
        if "training" in parts:
            results, failed = children.run_all([f"train {row}" for row in TRAIN_ROWS])
            train = {step[6:]: value for step, value in results.items()}
            notes.update(failed)
        if "serving" in parts:
            error = children.run("export-tfbert")
            if error:
                notes["export-tfbert"] = f"failed: {error}"
            steps = [f"serve {path}" for path in SERVE_PATHS
                     if not (error and path.startswith("tfbert"))]
            results, failed = children.run_all(steps)
            serve = {step[6:]: value for step, value in results.items()}
            notes.update(failed)

    print(f"\nCPU: {machine['cpu_model']}, {machine['cpu_count']} cores, {args.threads} threads "
          f"per child; avx512 {machine['avx512']}, avx512_bf16 {machine['avx512_bf16']}, "
          f"amx {machine['amx']}")
    if train:
        print(f"\nFine-tuning MiniLM on CoNLL-2003 train: {args.examples} examples after "
              f"{args.warmup_steps} warm-up steps, batch {args.batch_size}, length {MAX_LENGTH}, "
              "float32, AdamW")
        print(f"{'row':<18}{'examples/s':>11}{'padded tokens':>15}{'peak MiB':>10}"
              f"{'this / transformers':>21}")
        for row, result in train.items():
            share = ratio(train, "examples_per_s", row, "transformers")
            print(f"{row:<18}{result['examples_per_s']:11.1f}{result['padded_tokens']:>15}"
                  f"{result['peak_rss_mib']:10.0f}{times(share, 21)}")
    if serve:
        print(f"\nServing raw text -> entities, CoNLL-2003 test ({count} sentences), requests of "
              f"{REQUEST}, {args.passes} pass(es)")
        print(f"{'path':<18}{'sent/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'entities':>10}"
              f"{'peak MiB':>10}{'tfbert crf / this':>19}")
        for path, result in serve.items():
            share = ratio(serve, "sentences_per_s", "tfbert crf", path)
            print(f"{path:<18}{result['sentences_per_s']:9.1f}{result['p50_ms']:9.1f}"
                  f"{result['p99_ms']:9.1f}{result['entities_found']:>10}"
                  f"{result['peak_rss_mib']:10.0f}{times(share, 19)}")
    targets = [
        ("fine-tuning: tfbert crf / transformers", ratio(train, "examples_per_s", "tfbert crf", "transformers"), 1.2),
        ("fine-tuning: tfbert softmax / transformers", ratio(train, "examples_per_s", "tfbert softmax", "transformers"), 1.2),
        ("serving 64: tfbert crf / transformers", ratio(serve, "sentences_per_s", "tfbert crf", "transformers"), 1.5),
        ("serving 64: tfbert softmax / transformers", ratio(serve, "sentences_per_s", "tfbert softmax", "transformers"), 1.5),
        ("serving 64: tfbert softmax / tfbert crf", ratio(serve, "sentences_per_s", "tfbert softmax", "tfbert crf"), None),
    ]
    print(f"\n{'ratio':<46}{'measured':>9}{'needed':>9}  result")
    for name, value, needed in targets:
        result = "" if needed is None or value is None else ("met" if value >= needed else "NOT MET")
        print(f"{name:<46}{times(value, 9)}{f'>= {needed}x' if needed else '(CRF cost)':>9}  {result}")
    for step, note in notes.items():
        print(f"{step}: {note}")
    common.write_json(args.json or RESULTS / ("quick" if args.quick else "") / "tagging.json", {
        "machine": machine, "threads": args.threads, "quick": args.quick,
        "training": {"examples": args.examples, "batch_size": args.batch_size,
                     "warmup_steps": args.warmup_steps, "max_length": MAX_LENGTH,
                     "learning_rate": LEARNING_RATE, "rows": train},
        "serving": {"sentences": count, "request": REQUEST, "passes": args.passes, "paths": serve},
        "ratios": {name: value for name, value, _ in targets}, "not_run": notes,
    })


if __name__ == "__main__":
    main()
