"""Token tagging speed on CoNLL-2003: tfbert TokenClassifier against transformers.

    python bench/tagging_speed.py [--quick] [--examples 960] [--sentences N] [--passes 1]
        [--rounds 1] [--only training serving] [--request 64] [--threads 2] [--json F]

all-MiniLM-L6-v2 everywhere (random tag heads: speed only); CoNLL-2003 read in place
(`read_tagged`) by this parent and handed to the children as JSON; the same --threads
in every child, each row in a fresh process (common.Children).

1. Fine-tuning, examples/s: the first --examples training sentences after 3 warm-up
   steps, batch 32, max length 128, AdamW 1e-4 (recipes/ner.toml's rate) with what each
   side's trainer adds (linear warm-up/decay, weight decay 0.01, gradient-norm clipping at
   1.0: tfbert's `make_optimizer`, as `tfbert train` builds it; torch's AdamW with
   `get_linear_schedule_with_warmup` and `clip_grad_norm_`, as the HF Trainer does), float32,
   and bf16 for both tfbert models and transformers (Keras `mixed_bfloat16`; forward and
   loss under `torch.autocast`): the target ratio takes each side's fastest row.
   tfbert crf / softmax: `TokenClassifier(crf=...).fit` (seed 0), tokenized before
   the timer, length-bucketed batches, each padded to its longest row. transformers:
   `BertForTokenClassification` in a plain PyTorch loop, `BertTokenizerFast` before
   the timer, each word's tag on its first piece (-100 elsewhere), on tfbert's batch
   plan rebuilt (same algorithm and seed: the same batches, as the equal padded
   tokens show), each batch padded to its longest row in the loop.
2. Serving raw text to entities: CoNLL test sentences (words joined by spaces) in
   requests of --request sentences (64), file order, 2 warm-up requests, --passes timed
   passes; sent/s and p50/p99 per request. "tfbert crf xla" is the CRF tagger exported
   with jit_compile=True: one-row requests (--request 1) run XLA-compiled; its
   process first replays the export's warm-up records (assets.extra), as TF Serving
   does at load, so that no XLA compilation is timed. tfbert crf / softmax: an `export_for_serving` SavedModel's
   `serving_default` in a process importing only tensorflow and tensorflow_text
   (split, WordPiece, windows, encoder, Viterbi or argmax, spans: all in the graph);
   softmax / crf is the cost of CRF decoding. transformers: `pipeline(
   "token-classification", aggregation_strategy="simple")`, batch_size 64, with
   tfbert's tag head copied in (comparable entity counts; the table prints them).

Figures go to bench/results/tagging.json (--quick: bench/results/quick/tagging.json).
"""

import json
import pathlib
import time

import common
from train_speed import length_grouped_batches, padded_tokens, step_timer

ROWS = ["tfbert crf", "tfbert softmax", "transformers"]  # training rows and serving paths
SERVE_PATHS = ROWS + ["tfbert crf xla"]
# Training also in bf16: on a CPU with bf16 units (AVX512_BF16, AMX) it is each side's
# faster precision; the ratios compare the fastest row of each side.
# "unfused": tfbert's optimizer with Keras' own Adam step instead of the fused kernel
# (AdamWWithHeadRate(fused=False)), the A/B of that lever in the same run.
# "noclip": the transformers loop without clip_grad_norm_ (a plain PyTorch loop; the HF
# Trainer clips by default), to show what clipping costs that side.
# "op-by-op backward": the training graph's GELU and LayerNorm differentiated op by op
# (ops.gelu, ops.layer_normalization), not with their backward passes written out
# (exact_gelu_for_training, BertLayerNorm), the A/B of that lever.
# "tfbert softmax bf16" is the row of the peer's own model class (a softmax per token).
TRAIN_ROWS = ROWS + ["tfbert crf unfused", "tfbert crf bf16", "tfbert crf bf16 op-by-op backward",
                     "tfbert softmax bf16", "transformers bf16", "transformers bf16 noclip"]
# tfbert's tag names for CoNLL's types (tag_names_for({LOC, MISC, ORG, PER}, "iob2")).
TAG_NAMES = ["O"] + [f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in "BI"]
LEARNING_RATE, MAX_LENGTH, REQUEST, SEED = 1e-4, 128, 64, 0
WARMUP_RATIO, WEIGHT_DECAY, CLIP_NORM = 0.1, 0.01, 1.0  # tfbert's [training] defaults
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


# ----------------------------------------------------------------- training

def tfbert_task(model_dir, threads, crf, policy=None):
    import keras
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.tasks.token_classifier import TokenClassifier

    common.tf_threads(tf, threads)
    if policy:  # before the model is built: its layers read the policy when created
        keras.mixed_precision.set_global_policy(policy)
    return TokenClassifier(BertEncoder.from_pretrained(model_dir, dtype=policy),
                           BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                           TAG_NAMES, scheme="iob2", crf=crf, dtype=policy)


def tfbert_train(args, words, tags, crf, bf16=False, fused=True, op_by_op_backward=False):
    from keras import ops

    from tfbert.layers import layer_norm, transformer_block
    from tfbert.training.optimizer import make_optimizer

    if op_by_op_backward:  # the lever's A/B: GELU and LayerNorm as plain ops, differentiated
        transformer_block.exact_gelu_for_training = common.float32_exact_gelu
        layer_norm._normalize_with_gradient = (
            lambda x, gamma, beta, epsilon: ops.layer_normalization(x, gamma, beta,
                                                                   epsilon=epsilon))

    model = tfbert_task(args.checkpoint_dir, args.threads, crf,
                        "mixed_bfloat16" if bf16 else None)
    data = model.tokenize(words, tags)  # before the timer; fit takes it as it is
    plan = data.plan(args.batch_size, shuffle=True, seed=SEED)  # the batches fit will run
    model.compile(optimizer=make_optimizer(LEARNING_RATE, len(plan), warmup_ratio=WARMUP_RATIO,
                                           weight_decay=WEIGHT_DECAY, clip_norm=CLIP_NORM))
    model.optimizer.fused = fused
    padded = padded_tokens(data.lengths, plan[args.warmup_steps:])
    timer = step_timer(args.warmup_steps)
    model.fit(data, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True, seed=SEED,
              callbacks=[timer])
    return timer.seconds, padded


def transformers_train(args, words, tags, crf=None, bf16=False, clip=True):
    import numpy as np
    import torch
    from transformers import (BertForTokenClassification, BertTokenizerFast,
                              get_linear_schedule_with_warmup)

    torch.set_num_threads(args.threads)
    tokenizer = BertTokenizerFast.from_pretrained(args.checkpoint_dir)
    model = BertForTokenClassification.from_pretrained(args.checkpoint_dir,
                                                       num_labels=len(TAG_NAMES)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, eps=1e-6,
                                  weight_decay=WEIGHT_DECAY)
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=MAX_LENGTH)
    index = {name: i for i, name in enumerate(TAG_NAMES)}
    labels = []  # each word's tag on its first piece; -100 on its other pieces and specials
    for i, sentence_tags in enumerate(tags):
        ids = encoded.word_ids(i)
        labels.append([-100 if word is None or word == before else index[sentence_tags[word]]
                       for before, word in zip([None] + ids[:-1], ids)])
    lengths = [len(ids) for ids in encoded["input_ids"]]
    batches = length_grouped_batches(lengths, args.batch_size, seed=SEED)
    schedule = get_linear_schedule_with_warmup(optimizer, int(round(WARMUP_RATIO * len(batches))),
                                               len(batches))

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
        # bf16: forward and loss under autocast (float32 weights), backward outside it
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**collate(batch)).loss
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return time.perf_counter() - started, padded_tokens(lengths, batches[args.warmup_steps:])


def train_child(row, args, data):
    train = transformers_train if row.startswith("transformers") else tfbert_train
    options = ({"clip": not row.endswith("noclip")} if row.startswith("transformers")
               else {"fused": not row.endswith("unfused"),
                     "op_by_op_backward": row.endswith("op-by-op backward")})
    seconds, padded = train(args, data["train_words"], data["train_tags"],
                            row.startswith("tfbert crf"), bf16="bf16" in row, **options)
    rate = args.examples / seconds
    print(f"  {row:<16}{rate:8.1f} examples/s  {padded} padded tokens "
          f"({args.examples} examples in {seconds:.1f} s)", flush=True)
    common.write_child_result(args, {"examples_per_s": rate, "seconds": seconds,
                                     "padded_tokens": padded, "peak_rss_mib": common.peak_rss_mib()})


def best_of_rounds(rounds):
    """[{"train ROW": result}] per round -> {ROW: its fastest round's result, with
    "every_round": each round's examples/s}: the machine's noise only slows a row."""
    best = {}
    for found in rounds:
        for step, result in found.items():
            row = step[len("train "):]
            every = best.get(row, {}).get("every_round", []) + [result["examples_per_s"]]
            if row not in best or result["examples_per_s"] > best[row]["examples_per_s"]:
                best[row] = dict(result)
            best[row]["every_round"] = every
    return best


# ------------------------------------------------------------------ serving

def export_tfbert(args):
    import keras
    import numpy as np

    from tfbert.export import export_for_serving

    workdir = pathlib.Path(args.workdir)
    keras.utils.set_random_seed(0)
    tasks = {name: tfbert_task(args.checkpoint_dir, args.threads, name == "crf")
             for name in ("softmax", "crf")}
    tasks["crf"].tag_dense.set_weights(tasks["softmax"].tag_dense.get_weights())  # one head
    for name, task in tasks.items():
        export_for_serving(task, workdir / "saved_models", f"conll-{name}", version=1,
                           overwrite=True, deployment_files=False)
    export_for_serving(tasks["crf"], workdir / "saved_models", "conll-crf-xla", version=1,
                       overwrite=True, deployment_files=False, jit_compile=True)
    np.save(workdir / "head_kernel.npy", tasks["softmax"].tag_dense.kernel.numpy())
    np.save(workdir / "head_bias.npy", tasks["softmax"].tag_dense.bias.numpy())
    common.write_child_result(args, {})


def tfbert_server(args, path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops the graph uses)

    common.tf_threads(tf, args.threads)
    export = pathlib.Path(args.workdir) / "saved_models" / f"conll-{'-'.join(path.split()[1:])}" / "1"
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    warmup = export / "assets.extra" / "tf_serving_warmup_requests"
    if warmup.exists():  # what TF Serving runs at load: every compiled shape, once
        from tensorflow_serving.apis import prediction_log_pb2

        for record in tf.data.TFRecordDataset(str(warmup)):
            request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
            serve(**{key: tf.constant(tf.make_ndarray(value)) for key, value in request.inputs.items()})

    def predict(texts):  # what a client gets: every output as numpy
        outputs = {key: value.numpy() for key, value in serve(text=tf.constant(texts)).items()}
        return int(outputs["entity_count"].sum())

    return predict


def transformers_server(args, path):
    import numpy as np
    import torch
    from transformers import BertForTokenClassification, BertTokenizerFast, pipeline

    torch.set_num_threads(args.threads)
    workdir, model_dir = pathlib.Path(args.workdir), args.checkpoint_dir
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
        return sum(len(entities) for entities in tagger(texts, batch_size=args.request))

    return predict


def serve_child(path, args, data):
    texts = data["test_texts"]
    predict = (transformers_server if path == "transformers" else tfbert_server)(args, path)
    requests = [texts[i:i + args.request] for i in range(0, len(texts), args.request)]
    for request in requests[:2]:  # warm-up, not timed
        predict(request)
    latencies, entities = [], 0
    for request in requests * args.passes:
        start = time.perf_counter()
        entities += predict(request)
        latencies.append(time.perf_counter() - start)
    rate = args.passes * len(texts) / sum(latencies)
    print(f"  {path:<16}{rate:8.1f} sentences/s", flush=True)
    common.write_child_result(args, {
        "sentences_per_s": rate, "p50_ms": 1000 * common.percentile(latencies, 50),
        "p99_ms": 1000 * common.percentile(latencies, 99), "requests_timed": len(latencies),
        "entities_found": entities // args.passes, "peak_rss_mib": common.peak_rss_mib()})


def child(step, args):
    if step == "export-tfbert":
        return export_tfbert(args)
    part, row = step.split(" ", 1)
    data = json.loads((pathlib.Path(args.workdir) / "conll.json").read_text())  # write_data's
    return (train_child if part == "train" else serve_child)(row, args, data)


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
    both = top in figures and bottom in figures
    return figures[top][key] / figures[bottom][key] if both else None


def main():
    parser = common.parser(__doc__, quick_help="64 training examples, 128 test sentences")
    parser.add_argument("--examples", type=int, default=960, help="timed training examples")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--sentences", type=int, help="the first N test sentences (default all)")
    parser.add_argument("--passes", type=int, default=1, help="timed passes over the sentences")
    parser.add_argument("--only", nargs="+", choices=["training", "serving"])
    parser.add_argument("--request", type=int, default=REQUEST, help="sentences per serving request")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the training rows this many times, interleaved; each row "
                             "keeps its fastest round (all are in the JSON)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.request < 1:
        parser.error(f"--request must be at least 1, got {args.request}")
    if args.quick:
        args.examples, args.sentences, args.passes = 64, args.sentences or 128, 1
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    parts, machine = args.only or ["training", "serving"], common.machine()
    train_steps = [f"train {row}" for row in TRAIN_ROWS] if "training" in parts else []
    serve_steps = (["export-tfbert"] + [f"serve {path}" for path in SERVE_PATHS]
                   if "serving" in parts else [])
    options = common.flags(args, "threads", "examples", "batch_size", "warmup_steps", "passes",
                           "request")
    with common.Children(__file__, options, checkpoint=True) as children:
        count = write_data(children.workdir, args)
        rounds = [children.run_all(train_steps) for _ in range(args.rounds if train_steps else 0)]
        results, notes = children.run_all(serve_steps)  # a failed export fails tfbert's serving
    train = best_of_rounds([found for found, _ in rounds])
    for _, failed in rounds:
        notes.update(failed)
    serve = {step[6:]: value for step, value in results.items() if step.startswith("serve ")}

    print("\n" + common.machine_line(machine, args.threads))
    if train:
        print(f"\nFine-tuning MiniLM on CoNLL-2003 train: {args.examples} examples after "
              f"{args.warmup_steps} warm-up steps, batch {args.batch_size}, length {MAX_LENGTH}, "
              "AdamW, float32 unless the row says bf16 (mixed_bfloat16 / torch.autocast)")
        print(f"{'row':<26}{'examples/s':>11}{'padded tokens':>15}{'peak MiB':>10}  every round")
        for row, result in train.items():
            every = " ".join(f"{rate:.1f}" for rate in result["every_round"])
            print(f"{row:<26}{result['examples_per_s']:11.1f}{result['padded_tokens']:>15}"
                  f"{result['peak_rss_mib']:10.0f}  {every}")
    if serve:
        print(f"\nServing raw text -> entities, CoNLL-2003 test ({count} sentences), requests of "
              f"{args.request}, {args.passes} pass(es)")
        print(f"{'path':<18}{'sent/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'entities':>10}{'peak MiB':>10}")
        for path, r in serve.items():
            print(f"{path:<18}{r['sentences_per_s']:9.1f}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}"
                  f"{r['entities_found']:>10}{r['peak_rss_mib']:10.0f}")
    heads = ("tfbert crf", "tfbert softmax")
    fastest = lambda *rows: max((r for r in rows if r in train),  # noqa: E731
                                key=lambda r: train[r]["examples_per_s"], default=None)
    crf_row, peer_row = fastest("tfbert crf", "tfbert crf bf16"), fastest("transformers",
                                                                         "transformers bf16")
    softmax_row = fastest("tfbert softmax", "tfbert softmax bf16")
    targets = ([(f"fine-tuning: {h} / transformers", ratio(train, "examples_per_s", h, "transformers"),
                 1.2) for h in heads]
               + [(f"fine-tuning, fastest rows: {crf_row} / {peer_row}",
                   ratio(train, "examples_per_s", crf_row, peer_row), 1.2)]
               + [(f"fine-tuning, same model class: {softmax_row} / {peer_row}",
                   ratio(train, "examples_per_s", softmax_row, peer_row), 1.2)]
               + [(f"serving {args.request}: {h} / transformers",
                   ratio(serve, "sentences_per_s", h, "transformers"), 1.5 if args.request == REQUEST
                   else None) for h in heads]
               + [(f"serving {args.request}: tfbert crf xla / tfbert crf (XLA's gain)",
                   ratio(serve, "sentences_per_s", "tfbert crf xla", "tfbert crf"), None)]
               + [("fine-tuning: tfbert crf bf16 / transformers bf16 noclip (torch unclipped)",
                   ratio(train, "examples_per_s", "tfbert crf bf16", "transformers bf16 noclip"),
                   None)]
               + [("fused Adam step: tfbert crf / tfbert crf unfused",
                   ratio(train, "examples_per_s", "tfbert crf", "tfbert crf unfused"), None)]
               + [("written-out GELU/LayerNorm backward: crf bf16 / op by op",
                   ratio(train, "examples_per_s", "tfbert crf bf16",
                         "tfbert crf bf16 op-by-op backward"), None)]
               + [(f"serving {args.request}: tfbert softmax / tfbert crf (CRF cost)",
                   ratio(serve, "sentences_per_s", *heads[::-1]), None)])
    print(f"\n{'ratio':<52}{'measured':>9}{'needed':>9}  result")
    for name, value, needed in targets:
        measured = "-" if value is None else f"{value:.2f}x"
        result = "" if needed is None or value is None else ("met" if value >= needed else "NOT MET")
        print(f"{name:<52}{measured:>9}{f'>= {needed}x' if needed else '-':>9}  {result}")
    for step, note in notes.items():
        print(f"{step}: {note}")
    settings = {key: getattr(args, key) for key in ("threads", "quick", "examples", "passes", "rounds")}
    common.write_json(args.json or RESULTS / ("quick" if args.quick else "") / "tagging.json", {
        "machine": machine, **settings, "batch_size": args.batch_size,
        "warmup_steps": args.warmup_steps, "max_length": MAX_LENGTH, "learning_rate": LEARNING_RATE,
        "test_sentences": count, "request": args.request, "training": train, "serving": serve,
        "ratios": {name: value for name, value, _ in targets}, "not_run": notes})


if __name__ == "__main__":
    main()
