"""What a serving process holds: resident memory step by step, in both runtimes.

    python bench/serving_memory.py [--variants float32:16 ...] [--threads 2] [--requests 200]
        [--json F]

The MiniLM classifier of bench/serving_levers.py (seeded head) is exported float32,
bfloat16 and float32 with XLA (chunks of 16). Then, for each export and each runtime
(this project's TF 2.21 in `.venv`, and TF 2.20 + TF Text 2.20 in `.venv-tf220`, the
runtime of the newest TF Serving release), a fresh process imports tensorflow, then
tensorflow_text, loads the export the way TF Serving does (the TF1 loader, a Session
on the SignatureDef), replays its warm-up requests, and sends SST-2 dev sentences one
per request, then in requests of 64. It prints the resident memory (VmRSS) after each
step and the peak (VmHWM), beside the export's weight bytes: what the process holds
beyond the weights, and where it comes from.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
VARIANTS = ["float32:16", "bfloat16:16", "float32:16:xla"]
RUNTIMES = {"TF 2.21 (.venv)": sys.executable,
            "TF 2.20 (.venv-tf220, TF Serving's)": str(ROOT / ".venv-tf220" / "bin" / "python")}


def status_mib(field):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def measure(export_dir, sentences, threads, warmup_file):
    """Runs in the child: {step: VmRSS MiB} and the peak."""
    steps = {"python": status_mib("VmRSS")}
    import numpy as np
    import tensorflow as tf
    steps["import tensorflow"] = status_mib("VmRSS")
    import tensorflow_text  # noqa: F401 (the tokenizer ops)
    steps["import tensorflow_text"] = status_mib("VmRSS")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                      inter_op_parallelism_threads=threads)
    session = tf.compat.v1.Session(graph=tf.Graph(), config=config)
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
    steps["load (v1 loader, Session)"] = status_mib("VmRSS")
    signature = meta_graph.signature_def["serving_default"]
    text = signature.inputs["text"].name
    fetches = [output.name for output in signature.outputs.values()]
    for batch in json.loads(pathlib.Path(warmup_file).read_text()):
        session.run(fetches, {text: np.array(batch, dtype=object)})
    steps["warm-up requests"] = status_mib("VmRSS")
    for sentence in sentences:
        session.run(fetches, {text: np.array([sentence], dtype=object)})
    steps[f"{len(sentences)} requests of 1"] = status_mib("VmRSS")
    for start in range(0, len(sentences), 64):
        session.run(fetches, {text: np.array(sentences[start:start + 64], dtype=object)})
    steps["requests of 64"] = status_mib("VmRSS")
    return {"steps": steps, "peak": status_mib("VmHWM")}


def export_all(workdir, variants):
    """Exports every variant (in a child: this parent stays free of TensorFlow) and
    writes each one's warm-up texts as JSON, which the TF 2.20 child can read."""
    code = (
        "import json, pathlib, sys; sys.path.insert(0, 'bench');"
        "from serving_levers import export_variants, warmup_texts;"
        f"w = pathlib.Path({str(workdir)!r}); variants = {variants!r};"
        "export_variants(w, variants);"
        "[(w / (v.replace(':', '-') + '.warmup.json')).write_text(json.dumps("
        "[[t.decode() for t in batch] for batch in warmup_texts(w / v.replace(':', '-') / '1')]))"
        " for v in variants]")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def weight_mib(export_dir):
    variables = pathlib.Path(export_dir) / "variables"
    return sum(path.stat().st_size for path in variables.iterdir()) / 2**20


def main():
    parser = common.parser(__doc__, quick_help="20 requests")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=VARIANTS,
                        help="DTYPE:CHUNK[:xla] as bench/serving_levers.py takes them")
    parser.add_argument("--export-dir", help=argparse.SUPPRESS)   # the child's export
    parser.add_argument("--warmup-file", help=argparse.SUPPRESS)  # and its warm-up texts
    args = parser.parse_args()
    if args.quick:
        args.requests = 20
    common.limit_threads(args.threads)
    if args.child:
        sentences = common.sst2_sentences("dev", args.requests)
        result = measure(args.export_dir, sentences, args.threads, args.warmup_file)
        pathlib.Path(args.child).write_text(json.dumps(result))
        return

    workdir = pathlib.Path(tempfile.mkdtemp())
    export_all(workdir, args.variants)
    results = {}
    for variant in args.variants:
        export_dir = workdir / variant.replace(":", "-") / "1"
        for runtime, python in RUNTIMES.items():
            if not os.path.exists(python):
                print(f"{runtime}: {python} is missing (make serving-venv); skipped")
                continue
            out = workdir / "child.json"
            environment = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
            subprocess.run([python, __file__, "--child", str(out), "--threads", str(args.threads),
                            "--requests", str(args.requests), "--export-dir", str(export_dir),
                            "--warmup-file", str(workdir / f"{variant.replace(':', '-')}.warmup.json")],
                           check=True, env=environment, cwd=ROOT)
            results[f"{variant} / {runtime}"] = {**json.loads(out.read_text()),
                                                 "weights_mib": weight_mib(export_dir)}

    print(common.machine())
    print("Resident memory of a serving process (MiB, VmRSS after each step; oneDNN off, "
          f"{args.threads} threads)")
    for key, result in results.items():
        print(f"\n{key}: weights {result['weights_mib']:.0f} MiB, peak {result['peak']:.0f} MiB")
        previous = 0.0
        for step, mib in result["steps"].items():
            print(f"  {step:<32}{mib:8.0f}  (+{mib - previous:.0f})")
            previous = mib
    common.write_json(args.json, {"machine": common.machine(), "threads": args.threads,
                                  "requests": args.requests, "results": results})


if __name__ == "__main__":
    main()
