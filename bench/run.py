"""The benchmark suite: every part, then the targets of the speed issue, met or not.

    python bench/run.py [--quick] [--only encoder serving training tokenization accuracy
        tagging pretrain_speed embed_speed]
        [--threads 2] [--summary-only] [--results-dir DIR]

Each part is its own script, run here as a subprocess with the same --threads (and
--quick): its output streams through, its figures go to bench/results/<part>.json
(bench/results/quick/ for --quick, so a smoke run never replaces a full run's
figures). Then one table: each target, the ratio measured in this run, met or not;
everything, with the machine it ran on, goes to bench/results/suite.json. A part that
fails is reported as such and the others still run. --summary-only re-reads the
JSON files of an earlier run instead of running the parts. --results-dir puts (or,
with --summary-only, finds) the JSON files elsewhere.

The parts (each script's docstring says exactly what it measures):
- encoder: encoder_forward.py, forward pass on random ids, float32 and bf16, tfbert
  vs keras-hub BertBackbone vs transformers (PyTorch, bf16 autocast).
- serving: serving_e2e.py, SST-2 dev sentences as raw strings to labels, every
  serving path (keras-hub and transformers in float32 and bf16, onnxruntime), with
  its peak resident memory.
- training: train_speed.py, fine-tuning examples/s on SST-2, one recipe for all:
  tfbert, keras-hub float32/bf16, and transformers float32/bf16 tokenized before the
  timer on tfbert's length-bucketed batches; padded tokens per row.

A serving or fine-tuning ratio is tfbert's fastest row over each peer's fastest
configuration (keras-hub: float32 or bf16; transformers: float32, bf16 or
onnxruntime for serving); the summary prints every row's configuration (precision,
threads, batch, ordering/padding, where tokenization happens).
- tokenization: tokenization.py, sentences/s of tfbert's tokenizer vs HF tokenizers.
- accuracy: accuracy.py, SST-2 dev accuracy of each fast path (bf16 export,
  length-sorted serving, bf16 training) against the float32 path, after fine-tuning.
- tagging: tagging_speed.py, CoNLL-2003 NER fine-tuning (float32 and bf16) and serving
  raw text to entities, tfbert CRF / softmax vs transformers (its pipeline for serving).
- pretrain_speed: pretrain_speed.py, masked-LM pretraining tokens/s on the medical
  corpus, tfbert vs BertForMaskedLM with DataCollatorForLanguageModeling.
- embed_speed: embed_speed.py, `tfbert embed` sentence vectors vs transformers + mean
  pooling (file order, length-sorted, bf16).
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import common

BENCH = pathlib.Path(__file__).resolve().parent
PARTS = {"encoder": "encoder_forward.py", "serving": "serving_e2e.py",
         "training": "train_speed.py", "tokenization": "tokenization.py",
         "accuracy": "accuracy.py", "tagging": "tagging_speed.py",
         "pretrain_speed": "pretrain_speed.py", "embed_speed": "embed_speed.py"}


def run_part(part, script, json_path, args):
    """Runs one part script, output streaming through; returns (status, seconds)."""
    json_path.unlink(missing_ok=True)  # a failed part must not leave an old run's figures
    command = [sys.executable, str(BENCH / script), "--threads", str(args.threads),
               "--json", str(json_path)] + (["--quick"] if args.quick else [])
    print(f"\n=== {part}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return f"failed (exit {done.returncode}, see its output above)", seconds
    if not json_path.exists():
        return "failed (wrote no JSON)", seconds
    return "ok", seconds


# ------------------------------------------------------------------ targets
# Each function reads the parts' JSON (None where a part did not run) and returns
# (measured value, how it was obtained), or raises KeyError/ValueError when a figure
# it needs is missing; the summary then says "not measured".

def best(rates):
    """(name, rate) of the fastest among those that ran."""
    name = max(rates, key=rates.get)
    return name, rates[name]


def serving_rates(serving, prefix, size="64"):
    return {path: row["by_batch_size"][size]["sentences_per_s"]
            for path, row in serving["paths"].items() if path.startswith(prefix)}


def compared(peer_rates, digits):
    """Which peer configurations the best was taken from, with their rates."""
    return ", ".join(f"{name} {rate:.{digits}f}" for name, rate in peer_rates.items())


def serving_vs(serving, peers):
    """Best tfbert serving path / the best of `peers` (each peer's fastest configuration
    that ran), SST-2 dev, requests of 64."""
    tfbert, ours = best(serving_rates(serving, "tfbert"))
    peer_rates = {path: rate for path, rate in serving_rates(serving, "").items() if path in peers}
    peer, theirs = best(peer_rates)
    return ours / theirs, (f"{tfbert} {ours:.0f} / {peer} {theirs:.0f} sent/s "
                           f"(best of {compared(peer_rates, 0)})")


TFBERT_FLOAT32_SERVING = ["tfbert float32", "tfbert float32-xla"]


def single_request_vs_onnx(serving, percentile):
    """tfbert float32 (the faster of its exports, plain or XLA) / ONNX Runtime float32:
    the p50 or p99 latency of one-sentence requests (at most 1.0: as fast or faster)."""
    paths = serving["paths"]
    key = f"p{percentile}_ms"
    ours = {path: paths[path]["by_batch_size"]["1"][key] for path in TFBERT_FLOAT32_SERVING
            if path in paths}
    tfbert = min(ours, key=ours.get)
    theirs = paths["onnxruntime float32"]["by_batch_size"]["1"][key]
    return ours[tfbert] / theirs, (f"{tfbert} {ours[tfbert]:.2f} / onnxruntime float32 "
                                   f"{theirs:.2f} ms (tfbert: {compared(ours, 2)})")


def serving_memory(serving):
    """Peak resident memory of the tfbert float32 serving process (the lower of its
    exports), MiB; the peers' beside it."""
    paths = serving["paths"]
    ours = {path: paths[path]["peak_rss_mib"] for path in TFBERT_FLOAT32_SERVING if path in paths}
    tfbert = min(ours, key=ours.get)
    others = {path: row["peak_rss_mib"] for path, row in paths.items()
              if not path.startswith("tfbert")}
    return ours[tfbert], f"{tfbert} {ours[tfbert]:.0f} MiB (peers: {compared(others, 0)})"


def training_vs(training, peers):
    """Best tfbert row / the best of `peers`, fine-tuning examples/s; the padded tokens
    of the two rows (the work each did) are shown where the part counted them."""
    rows = training["rows"]
    rates = {row: result["examples_per_s"] for row, result in rows.items()}
    tfbert, ours = best({row: rate for row, rate in rates.items() if row.startswith("tfbert")})
    peer_rates = {row: rate for row, rate in rates.items() if row in peers}
    peer, theirs = best(peer_rates)
    padded = [rows[row].get("padded_tokens") for row in (tfbert, peer)]
    work = (f"; padded tokens {padded[0]} / {padded[1]}" if None not in padded else "")
    return ours / theirs, (f"{tfbert} {ours:.1f} / {peer} {theirs:.1f} ex/s{work} "
                           f"(best of {compared(peer_rates, 1)})")


def encoder_rate(encoder, framework, precision, batch=32, length=128):
    for row in encoder["rows"]:
        if (row["framework"], row["precision"], row["batch"], row["length"]) == (
                framework, precision, batch, length):
            return row["seq_per_s"]
    raise KeyError(f"{framework} {precision} {batch}x{length}")


def encoder_vs(encoder, a, b):
    ours, theirs = encoder_rate(encoder, *a), encoder_rate(encoder, *b)
    return ours / theirs, f"{' '.join(a)} {ours:.1f} / {' '.join(b)} {theirs:.1f} seq/s at 32x128"


def tokenization_vs(tokenization):
    """tfbert / HF tokenizers at batch 64 (the serving batch); the whole-list ratio is shown."""
    rates = {name: row["sentences_per_s"] for name, row in tokenization["tokenizers"].items()}
    ours, theirs = rates["tfbert"], rates["tokenizers"]
    return (ours["64"] / theirs["64"],
            f"tfbert {ours['64']:.0f} / tokenizers {theirs['64']:.0f} sent/s at batch 64 "
            f"(whole list at once: {ours['all'] / theirs['all']:.2f}x)")


def fast_path_accuracy_drop(accuracy):
    """The largest SST-2 dev accuracy drop, in points, of a fast path below float32."""
    rows = dict(accuracy["accuracy"])
    reference = rows.pop(accuracy["reference"])
    path = min(rows, key=rows.get)
    points = 100 * (reference - rows[path])
    return points, (f"worst: {path} {100 * rows[path]:.2f} vs float32 {100 * reference:.2f} "
                    f"(after fine-tuning on {accuracy['examples']} SST-2 sentences)")


def tagging_training_vs_transformers(tagging):
    """The faster tfbert CRF row (float32 or bf16) / the faster transformers row,
    NER fine-tuning examples/s."""
    rates = {row: r["examples_per_s"] for row, r in tagging["training"].items()}
    tfbert, ours = best({row: rate for row, rate in rates.items() if row.startswith("tfbert crf")})
    peers = {row: rate for row, rate in rates.items() if row.startswith("transformers")}
    peer, theirs = best(peers)
    return ours / theirs, f"{tfbert} {ours:.1f} / {peer} {theirs:.1f} ex/s (best of {compared(peers, 1)})"


def tagging_serving_vs_pipeline(tagging):
    """tfbert CRF export / the transformers token-classification pipeline, CoNLL test
    sentences to entities in requests of 64."""
    ours, theirs = (tagging["serving"][path]["sentences_per_s"]
                    for path in ("tfbert crf", "transformers"))
    return ours / theirs, f"tfbert crf {ours:.1f} / transformers pipeline {theirs:.1f} sent/s"


def pretraining_vs_transformers(pretrain):
    ours, theirs = (pretrain["results"][row]["tokens_per_s"] for row in ("tfbert", "transformers"))
    return ours / theirs, f"tfbert {ours:.0f} / transformers {theirs:.0f} tokens/s"


def embedding_vs_transformers(embed):
    """`tfbert embed`'s fastest row (float32 or bf16) / the fastest transformers + mean
    pooling row."""
    rates = {row: r["sentences_per_s"] for row, r in embed["results"].items()}
    mine, ours = best({row: rate for row, rate in rates.items() if row.startswith("tfbert")})
    peers = {row: rate for row, rate in rates.items() if not row.startswith("tfbert")}
    peer, theirs = best(peers)
    return ours / theirs, f"{mine} {ours:.1f} / {peer} {theirs:.1f} sent/s (best of {compared(peers, 1)})"


# Each peer's configurations: a ratio is taken against the fastest of them that ran.
KERAS_HUB = ["keras-hub float32", "keras-hub bf16"]
TRANSFORMERS_SERVING = ["transformers float32", "transformers bf16", "onnxruntime float32"]
TRANSFORMERS_TRAINING = ["transformers float32", "transformers bf16"]

# (target, part it reads, check, needed, at least (True) or at most (False))
TARGETS = [
    ("serving batch 64: tfbert / keras-hub", "serving",
     lambda r: serving_vs(r, KERAS_HUB), 6.0, True),
    ("serving batch 64: tfbert / best transformers path", "serving",
     lambda r: serving_vs(r, TRANSFORMERS_SERVING), 1.5, True),
    ("serving batch 1 p50: tfbert float32 / onnxruntime", "serving",
     lambda r: single_request_vs_onnx(r, 50), 1.0, False),
    ("serving batch 1 p99: tfbert float32 / onnxruntime", "serving",
     lambda r: single_request_vs_onnx(r, 99), 1.0, False),
    ("serving peak memory, tfbert float32 (MiB)", "serving", serving_memory, 700.0, False),
    ("fine-tuning: tfbert / keras-hub", "training",
     lambda r: training_vs(r, KERAS_HUB), 4.0, True),
    ("fine-tuning: tfbert / transformers", "training",
     lambda r: training_vs(r, TRANSFORMERS_TRAINING), 1.2, True),
    ("encoder 32x128 float32: tfbert / transformers", "encoder",
     lambda r: encoder_vs(r, ("tfbert", "float32"), ("transformers", "float32")), 1.0, True),
    ("encoder 32x128: tfbert bf16 / tfbert float32", "encoder",
     lambda r: encoder_vs(r, ("tfbert", "bf16"), ("tfbert", "float32")), 2.0, True),
    ("tokenization: tfbert / HF tokenizers", "tokenization", tokenization_vs, 5.0, True),
    ("fast paths: SST-2 dev accuracy drop (points)", "accuracy", fast_path_accuracy_drop, 0.3, False),
    ("NER fine-tuning: tfbert CRF / transformers", "tagging",
     tagging_training_vs_transformers, 1.2, True),
    ("NER serving 64: tfbert CRF / transformers pipeline", "tagging",
     tagging_serving_vs_pipeline, 1.5, True),
    ("masked-LM pretraining: tfbert / transformers", "pretrain_speed",
     pretraining_vs_transformers, 1.3, True),
    ("sentence vectors: tfbert embed / transformers", "embed_speed",
     embedding_vs_transformers, 1.5, True),
]


def evaluate_targets(results):
    rows = []
    for target, part, check, needed, at_least in TARGETS:
        row = {"target": target, "part": part, "needed": needed,
               "comparison": ">=" if at_least else "<="}
        if results.get(part) is None:
            row.update(measured=None, met=None, detail=f"no results from the {part} part")
            rows.append(row)
            continue
        try:
            value, detail = check(results[part])
            row.update(measured=value, detail=detail,
                       met=value >= needed if at_least else value <= needed)
        except KeyError as error:  # a row or shape it reads was not run
            row.update(measured=None, met=None, detail=f"not measured: no figure for {error}")
        except ValueError:  # max() of nothing: none of the paths it compares ran
            row.update(measured=None, met=None, detail="not measured: a side of it did not run")
        rows.append(row)
    return rows


def configurations(results):
    """{part: {row: its configuration}} of the serving and training rows (None where
    the JSON predates stored configurations)."""
    rows = {"serving": (results.get("serving") or {}).get("paths", {}),
            "training": (results.get("training") or {}).get("rows", {})}
    return {part: {row: result.get("config") for row, result in part_rows.items()}
            for part, part_rows in rows.items() if part_rows}


def print_summary(statuses, targets, serving, quick, configs):
    print("\n=== Summary" + (" (--quick: smoke-run figures, not results)" if quick else ""))
    for part, status in statuses.items():
        print(f"{part:<13} {status['status']}"
              + (f" ({status['seconds']:.0f} s)" if status.get("seconds") else "")
              + "".join(f"\n{'':14}{row}: {note}" for row, note in status.get("not_run", {}).items()))
    print(f"\n{'target':<50}{'measured':>10}{'needed':>10}  result")
    for row in targets:
        unit = "" if row["comparison"] == "<=" else "x"
        measured = f"{row['measured']:.2f}{unit}" if row["measured"] is not None else "-"
        needed = f"{row['comparison']} {row['needed']:.1f}{unit}"
        result = {True: "met", False: "NOT MET", None: "not measured"}[row["met"]]
        print(f"{row['target']:<50}{measured:>10}{needed:>10}  {result}")
        print(f"{'':4}{row['detail']}")
    for part, rows in configs.items():
        print(f"\nConfiguration of each {part} row (a ratio is taken against each peer's best):")
        for row, config in rows.items():
            text = common.config_text(config) if config else "not recorded (an older run)"
            print(f"  {row:<22}{text}")
    if serving:
        print("\nPeak resident memory of each serving path (MiB):")
        for path, row in serving["paths"].items():
            print(f"  {path:<22}{row['peak_rss_mib']:8.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every part's smoke-run settings")
    parser.add_argument("--only", nargs="+", choices=list(PARTS), help="some of the parts")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--summary-only", action="store_true",
                        help="summarize the JSON of an earlier run, run nothing")
    parser.add_argument("--results-dir", type=pathlib.Path,
                        help="where the JSON files go (default: bench/results, "
                             "bench/results/quick with --quick)")
    args = parser.parse_args()
    results_dir = args.results_dir or BENCH / "results" / ("quick" if args.quick else "")
    results_dir.mkdir(parents=True, exist_ok=True)

    statuses, results = {}, {}
    for part, script in PARTS.items():
        json_path = results_dir / f"{part}.json"
        if args.only and part not in args.only:
            statuses[part] = {"status": "not run (--only)"}
        elif args.summary_only:
            statuses[part] = {"status": "from an earlier run" if json_path.exists() else "no results"}
        else:
            status, seconds = run_part(part, script, json_path, args)
            statuses[part] = {"status": status, "seconds": seconds}
        if json_path.exists() and not (args.only and part not in args.only):
            results[part] = json.loads(json_path.read_text())
            if results[part].get("not_run"):
                statuses[part]["not_run"] = results[part]["not_run"]

    targets = evaluate_targets(results)
    configs = configurations(results)
    print_summary(statuses, targets, results.get("serving"), args.quick, configs)
    serving = results.get("serving") or {}
    common.write_json(results_dir / "suite.json", {
        "machine": common.machine(), "quick": args.quick, "threads": args.threads,
        "parts": {part: dict(status, results=f"{part}.json") for part, status in statuses.items()},
        "targets": targets, "configurations": configs,
        "serving_peak_rss_mib": {path: row["peak_rss_mib"]
                                 for path, row in serving.get("paths", {}).items()},
    })
    print(f"\nwrote {results_dir / 'suite.json'}")


if __name__ == "__main__":
    main()
