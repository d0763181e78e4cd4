"""End-to-end serving on real text: SST-2 dev sentences in, labels out.

    python bench/serving_e2e.py [--quick] [--threads 2] [--batch-sizes 1 8 64] [--json F]

The 872 SST-2 dev sentences (read from ../shared/data, never copied) are sent as raw
strings in requests of 1, 8 and 64 sentences, in file order. Per path and batch size
the script prints sentences/s, the p50/p99 latency of one request, and the peak
resident memory of the process that served it. Each path runs in its own process that
imports only what its deployment would, so memory and thread pools are its own:

- tfbert float32 / bf16: a SavedModel written by `tfbert.export.export_for_serving`
  (`chunk_size=16`; the bf16 one with `compute_dtype="bfloat16"`: bfloat16 weights and
  compute) in an earlier, separate process, loaded with
  `tf.saved_model.load(...).signatures["serving_default"]` in a process that imports
  only tensorflow and tensorflow_text. Tokenization is inside the graph; the graph
  sorts each request by length and runs it in chunks of 16 rows, each padded to its
  own longest row.
- tfbert float32-xla: the float32 export made with `jit_compile=True`: the encoder runs
  XLA-compiled, each chunk padded up to a bucketed shape (tfbert/inference/xla_buckets.py).
  Its child first replays the export's `assets.extra/tf_serving_warmup_requests` (one
  request per bucketed shape, which compiles it), as TF Serving does when it loads a
  model, so no timed request pays for a compilation.
- keras-hub float32 / bf16: `BertTextClassifier.from_preset(dir, num_classes=2,
  sequence_length=128)` (bf16: with `dtype="bfloat16"`, bfloat16 weights and compute
  for the backbone and head, as tfbert's bf16 export); its preprocessor and the
  classifier in one tf.function. The preprocessor pads every request to the fixed 128
  (its default would be 512; 128 is the others' truncation).
- transformers float32 / bf16: `BertTokenizerFast(padding=True, truncation=True,
  max_length=128)` on each request, then `BertForSequenceClassification` under
  `torch.inference_mode()` (bf16: `torch.autocast("cpu", dtype=torch.bfloat16)` over
  the float32 weights).
- onnxruntime: the same transformers model exported by `torch.onnx.export` with
  dynamic batch and sequence axes, run by an `InferenceSession` with the Hugging Face
  fast tokenizer (`tokenizers`, padding to the longest row, truncation 128).

Every path gets the same threads (--threads) and the same requests in the same order;
each path's configuration (precision, threads, requests, padding, where tokenization
happens) is printed with its figures and stored with them in the JSON (`config`).

The heads are untrained (seeded), so accuracy means nothing. To make the labels
comparable, every path uses tfbert's head: its `output_dense` kernel [384, 2] and
bias are copied into keras-hub's `logits` dense layer (cast to its dtype) and, transposed, into
transformers' `classifier` (the ONNX export inherits it). All three heads compute
pooled [CLS] -> dropout (off) -> dense, so the paths then compute the same function,
and the script prints how often each path's labels agree with tfbert float32.

Each batch size gets 2 warm-up requests first (graph tracing, first allocations);
then `--passes` passes over the sentences are timed request by request.
"""

import importlib.util
import pathlib
import sys
import time

import common

PATHS = ["tfbert float32", "tfbert float32-xla", "tfbert bf16", "keras-hub float32", "keras-hub bf16",
         "transformers float32", "transformers bf16", "onnxruntime float32"]
MAX_LENGTH = 128
CHUNK_SIZE = 16  # tfbert's export default, passed explicitly: the config says so

# What each path runs (the rest of its configuration, threads and requests, is the
# same for all and added from the command line). Printed and stored with the figures.
TFBERT_SERVING = {"tokenization": "in the SavedModel graph (TF Text), per request",
                  "padding": f"length-sorted in the graph, chunks of {CHUNK_SIZE} rows "
                             "each padded to its own longest row"}
KERAS_HUB_SERVING = {"tokenization": "keras-hub preprocessor, in the model's tf.function, "
                                     "per request",
                     "padding": f"every request padded to {MAX_LENGTH} (fixed sequence_length)"}
TRANSFORMERS_SERVING = {"tokenization": "BertTokenizerFast (Rust) in Python, per request",
                        "padding": "each request padded to its longest row"}
CONFIGS = {
    "tfbert float32": {"precision": "float32", **TFBERT_SERVING},
    "tfbert float32-xla": {"precision": "float32, encoder XLA-compiled (jit_compile=True), "
                                        "chunks padded to bucketed shapes", **TFBERT_SERVING,
                           "warm-up": "the export's tf_serving_warmup_requests replayed "
                                      "first (one request per bucketed shape), as TF "
                                      "Serving replays them at load"},
    "tfbert bf16": {"precision": "bf16 (bfloat16 weights and compute)", **TFBERT_SERVING},
    "keras-hub float32": {"precision": "float32", **KERAS_HUB_SERVING},
    "keras-hub bf16": {"precision": "bf16 (dtype=\"bfloat16\": bfloat16 weights and compute)",
                       **KERAS_HUB_SERVING},
    "transformers float32": {"precision": "float32", **TRANSFORMERS_SERVING},
    "transformers bf16": {"precision": "bf16 (torch.autocast over float32 weights)",
                          **TRANSFORMERS_SERVING},
    "onnxruntime float32": {"precision": "float32 (ONNX export of the transformers model)",
                            "tokenization": "HF tokenizers (Rust) in Python, per request",
                            "padding": "each request padded to its longest row"},
}


# ----------------------------------------------------------------- export steps

def export_tfbert(workdir, model_dir, threads):
    import keras
    import numpy as np
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.export import export_for_serving
    from tfbert.tasks import TextClassifier

    common.tf_threads(tf, threads)
    keras.utils.set_random_seed(0)  # the untrained head: the same one on every run
    task = TextClassifier(BertEncoder.from_pretrained(model_dir),
                          BertTokenizer.from_pretrained(model_dir, max_length=MAX_LENGTH),
                          ["negative", "positive"])
    for dtype, jit_compile, name in (("float32", False, "float32"), ("bfloat16", False, "bfloat16"),
                                     ("float32", True, "float32-xla")):
        export_for_serving(task, workdir / "saved_models", f"sst2-{name}", version=1,
                           overwrite=True, compute_dtype=dtype, chunk_size=CHUNK_SIZE,
                           jit_compile=jit_compile, deployment_files=False)
    np.save(workdir / "head_kernel.npy", task.head.output_dense.kernel.numpy())
    np.save(workdir / "head_bias.npy", task.head.output_dense.bias.numpy())


def transformers_model(workdir, model_dir):
    """BertForSequenceClassification with tfbert's head copied in."""
    import numpy as np
    import torch
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(model_dir, num_labels=2).eval()
    with torch.no_grad():  # torch's Linear keeps weight as [out, in]: the transpose
        model.classifier.weight.copy_(torch.from_numpy(np.load(workdir / "head_kernel.npy").T))
        model.classifier.bias.copy_(torch.from_numpy(np.load(workdir / "head_bias.npy")))
    return model


def export_onnx(workdir, model_dir, threads):
    import torch

    torch.set_num_threads(threads)
    model = transformers_model(workdir, model_dir)

    class Logits(torch.nn.Module):
        """Positional inputs in a fixed order and one output: what ONNX needs."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    example = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    # The TorchScript exporter (dynamo=False): dynamic_axes is all it needs, where the
    # dynamo exporter would also want onnxscript installed.
    torch.onnx.export(Logits(model), (example, example, torch.zeros_like(example)),
                      str(workdir / "model.onnx"), input_names=names, output_names=["logits"],
                      dynamic_axes={name: {0: "batch", 1: "sequence"} for name in names}
                      | {"logits": {0: "batch"}},
                      opset_version=17, dynamo=False)


# ------------------------------------------------------------ serving children

def softmax_positive(logits):
    import numpy as np

    logits = np.asarray(logits, np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (exp / exp.sum(axis=-1, keepdims=True))[:, 1]


def tfbert_predictor(workdir, model_dir, threads, precision):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops the graph uses)

    common.tf_threads(tf, threads)
    name = {"bf16": "bfloat16"}.get(precision, precision)
    export_dir = workdir / "saved_models" / f"sst2-{name}" / "1"
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    if precision == "float32-xla":  # as TF Serving does at load: compiles every bucket
        from serving_levers import warmup_texts

        for texts in warmup_texts(export_dir):
            serve(text=tf.constant(texts))

    def predict(texts):
        outputs = serve(text=tf.constant(texts))
        return outputs["label_id"].numpy(), outputs["probabilities"].numpy()[:, 1]

    return predict


def keras_hub_predictor(workdir, model_dir, threads, precision):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    common.tf_threads(tf, threads)
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        model_dir, num_classes=2, sequence_length=MAX_LENGTH,
        dtype="bfloat16" if precision == "bf16" else "float32")
    head = classifier.output_dense  # float32 values, cast to the layer's own dtype
    for variable, name in ((head.kernel, "head_kernel.npy"), (head.bias, "head_bias.npy")):
        variable.assign(keras.ops.cast(np.load(workdir / name), variable.dtype))
    preprocessor = classifier.preprocessor
    serve = tf.function(lambda texts: classifier(preprocessor(texts), training=False))

    def predict(texts):
        logits = tf.cast(serve(tf.constant(texts)), tf.float32).numpy()
        return logits.argmax(axis=-1), softmax_positive(logits)

    return predict


def transformers_predictor(workdir, model_dir, threads, precision):
    import torch
    from transformers import BertTokenizerFast

    torch.set_num_threads(threads)
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    model = transformers_model(workdir, model_dir)

    def predict(texts):
        with torch.inference_mode(), torch.autocast(
                "cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            batch = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH,
                              return_tensors="pt")
            logits = model(**batch).logits.float().numpy()
        return logits.argmax(axis=-1), softmax_positive(logits)

    return predict


def onnxruntime_predictor(workdir, model_dir, threads, precision):
    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(pathlib.Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(workdir / "model.onnx"), options,
                                           providers=["CPUExecutionProvider"])

    def predict(texts):
        encodings = tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
        }
        logits = session.run(["logits"], feeds)[0]
        return logits.argmax(axis=-1), softmax_positive(logits)

    return predict


PREDICTORS = {"tfbert": tfbert_predictor, "keras-hub": keras_hub_predictor,
              "transformers": transformers_predictor, "onnxruntime": onnxruntime_predictor}


def serve_sentences(predict, sentences, batch_sizes, passes):
    """Per batch size: throughput and request latencies; labels of the last pass."""
    results = {}
    for size in batch_sizes:
        requests = [sentences[i:i + size] for i in range(0, len(sentences), size)]
        for request in requests[:2]:  # warm-up, not timed
            predict(request)
        latencies, labels, positive = [], [], []
        for _ in range(passes):
            labels, positive = [], []
            for request in requests:
                start = time.perf_counter()
                label_ids, probabilities = predict(request)
                latencies.append(time.perf_counter() - start)
                labels += [int(x) for x in label_ids]
                positive += [float(x) for x in probabilities]
        results[str(size)] = {
            "sentences_per_s": passes * len(sentences) / sum(latencies),
            "p50_ms": 1000 * common.percentile(latencies, 50),
            "p99_ms": 1000 * common.percentile(latencies, 99),
            "requests_timed": len(latencies),
        }
    return results, labels, positive


def child(step, args):
    workdir = pathlib.Path(args.workdir)
    if step in EXPORTS:
        return EXPORTS[step](workdir, args.checkpoint_dir, args.threads)
    framework, precision = step.split()
    predict = PREDICTORS[framework](workdir, args.checkpoint_dir, args.threads, precision)
    sentences = common.sst2_sentences("dev", args.sentences)
    results, labels, positive = serve_sentences(predict, sentences, args.batch_sizes, args.passes)
    common.write_child_result(args, {
        "by_batch_size": results, "peak_rss_mib": common.peak_rss_mib(),
        "labels": labels, "positive_probability": positive,
    })


EXPORTS = {"export-tfbert": export_tfbert, "export-onnx": export_onnx}


# ---------------------------------------------------------------------- parent

def path_config(path, args):
    """What `path` ran: its own settings, and the threads and requests all share."""
    sizes = ", ".join(map(str, args.batch_sizes))
    return {"precision": CONFIGS[path]["precision"], "threads": args.threads,
            "requests": f"{sizes} sentences, file order",
            **{k: v for k, v in CONFIGS[path].items() if k != "precision"}}


def print_tables(figures, batch_sizes, threads, count):
    reference = figures.get("tfbert float32")
    print(f"\nServing end to end, SST-2 dev ({count} sentences, raw strings in, labels out), "
          f"{threads} threads")
    print("Configurations:")
    for path, result in figures.items():
        print(f"  {path:<22}{common.config_text(result['config'])}")
    print(f"{'path':<22}{'batch':>6}{'sent/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'peak MiB':>10}"
          f"{'tfbert f32 / this':>19}")
    for size in map(str, batch_sizes):
        for path, result in figures.items():
            row = result["by_batch_size"][size]
            ratio = (f"{reference['by_batch_size'][size]['sentences_per_s'] / row['sentences_per_s']:18.2f}x"
                     if reference else f"{'-':>19}")
            print(f"{path:<22}{size:>6}{row['sentences_per_s']:9.1f}{row['p50_ms']:9.1f}"
                  f"{row['p99_ms']:9.1f}{result['peak_rss_mib']:10.0f}{ratio}")


def agreement(figures):
    """Share of labels equal to tfbert float32's, and the largest P(positive) gap."""
    reference = figures.get("tfbert float32")
    if not reference:
        return {}
    out = {}
    for path, result in figures.items():
        if path == "tfbert float32":
            continue
        pairs = list(zip(reference["labels"], result["labels"]))
        gaps = [abs(a - b) for a, b in zip(reference["positive_probability"],
                                           result["positive_probability"])]
        out[path] = {"label_agreement": sum(a == b for a, b in pairs) / len(pairs),
                     "max_abs_positive_probability_difference": max(gaps)}
    return out


def main():
    parser = common.parser(__doc__, quick_help="32 sentences, one pass (a smoke run)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--sentences", type=int, help="the first N dev sentences (default: all 872)")
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the sentences")
    parser.add_argument("--only", nargs="+", choices=PATHS, help="some of the paths")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.passes = args.sentences or 32, 1
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    paths = args.only or PATHS
    options = common.flags(args, "threads", "passes", "batch_sizes", "sentences")
    with common.Children(__file__, options, checkpoint=True) as children:
        error = children.run("export-tfbert")
        if error:
            sys.exit(f"tfbert export failed: {error}")
        notes = {}
        if "onnxruntime float32" in paths:
            if not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")):
                notes["onnxruntime float32"] = "not available (pip could not install it)"
            else:
                error = children.run("export-onnx")
                if error:
                    notes["onnxruntime float32"] = f"ONNX export failed: {error}"
        figures, failed = children.run_all([path for path in paths if path not in notes])
        notes.update(failed)
    for path, result in figures.items():
        result["config"] = path_config(path, args)

    count = len(common.sst2_sentences("dev", args.sentences))
    print_tables(figures, args.batch_sizes, args.threads, count)
    agree = agreement(figures)
    print("\nLabels against tfbert float32 (same weights, tfbert's head copied into the others):")
    for path, row in agree.items():
        print(f"  {path:<22} agree {row['label_agreement']:.3f}, "
              f"max |P(positive) difference| {row['max_abs_positive_probability_difference']:.4f}")
    for path, note in notes.items():
        print(f"{path}: {note}")
    common.write_json(args.json, {
        "sentences": count, "threads": args.threads, "passes": args.passes,
        "batch_sizes": args.batch_sizes, "keras_hub_sequence_length": MAX_LENGTH,
        "paths": {path: {k: v for k, v in result.items()
                         if k not in ("labels", "positive_probability")}
                  for path, result in figures.items()},
        "agreement_with_tfbert_float32": agree, "not_run": notes,
    })


if __name__ == "__main__":
    main()
