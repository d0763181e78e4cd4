"""The exported MiniLM classifier in TF Serving's runtime, with TensorFlow's oneDNN
rewrite on and off: what the CPU server environment of tfbert/export/deployment.py
(TF_ENABLE_ONEDNN_OPTS=0) costs or gains in latency.

    python bench/serving_onednn.py [--requests 40] [--batches 1 8 32]

Exports a MiniLM classifier (its head untrained: latency does not depend on it) with
tfbert, then times `serving_default` on SST-2 dev sentences in the TF 2.20 venv
(`make serving-venv`), loaded with the v1 loader as TF Serving loads it, once per
setting, each in a fresh process. Prints ms per request and writes
bench/results/serving_onednn.json. Memory under varied traffic is the soak's
(tests/test_serving_soak.py, bench/results/soak.json).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from common import ROOT, machine, sst2_sentences, write_json

SERVING_PYTHON = os.environ.get("TFBERT_SERVING_PYTHON", str(ROOT / ".venv-tf220" / "bin" / "python"))

TIMER = r"""
import json, sys, time
import numpy as np, tensorflow as tf, tensorflow_text  # noqa: F401
export, requests, batches = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
texts = json.loads(open(sys.argv[4], encoding="utf-8").read())
result = {}
with tf.compat.v1.Session(graph=tf.Graph()) as session:
    signature = tf.compat.v1.saved_model.loader.load(session, ["serve"], export).signature_def["serving_default"]
    output, text = signature.outputs["probabilities"].name, signature.inputs["text"].name
    for batch in batches:
        feeds = [np.array([t.encode() for t in texts[i * batch:(i + 1) * batch]], dtype=object)
                 for i in range(requests)]
        for feed in feeds[:5]:
            session.run(output, {text: feed})
        started = time.perf_counter()
        for feed in feeds:
            session.run(output, {text: feed})
        result[str(batch)] = 1000 * (time.perf_counter() - started) / requests
print(json.dumps(result))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.export import export_for_serving
    from tfbert.tasks import TextClassifier

    texts = sst2_sentences("dev")
    needed = args.requests * max(args.batches)
    texts = (texts * (needed // len(texts) + 1))[:needed]
    task = TextClassifier(BertEncoder.from_pretrained("all-minilm-l6-v2"),
                          BertTokenizer.from_pretrained("all-minilm-l6-v2"), ["negative", "positive"])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        export = export_for_serving(task, folder, "latency", deployment_files=False)
        texts_file = os.path.join(folder, "texts.json")
        with open(texts_file, "w", encoding="utf-8") as file:
            json.dump(texts, file)
        for onednn in ("1", "0"):
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            env["TF_ENABLE_ONEDNN_OPTS"] = onednn
            ran = subprocess.run([SERVING_PYTHON, "-c", TIMER, str(export), str(args.requests),
                                  json.dumps(args.batches), texts_file],
                                 capture_output=True, text=True, env=env, check=True)
            ms = json.loads(ran.stdout.strip().splitlines()[-1])
            rows.append({"TF_ENABLE_ONEDNN_OPTS": onednn, "ms_per_request": ms})
    on, off = rows
    print(f"{'batch':>5}  {'oneDNN on':>10}  {'oneDNN off':>10}  off/on")
    for batch in args.batches:
        a, b = on["ms_per_request"][str(batch)], off["ms_per_request"][str(batch)]
        print(f"{batch:5d}  {a:8.1f} ms  {b:8.1f} ms  {b / a:5.2f}")
    write_json(ROOT / "bench" / "results" / "serving_onednn.json",
               {"machine": machine(), "requests": args.requests, "runs": rows,
                "command": "python bench/serving_onednn.py " + " ".join(sys.argv[1:])})


if __name__ == "__main__":
    main()
