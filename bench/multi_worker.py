"""Training examples/s on one process against `--workers 2` (multi_worker on 127.0.0.1).

    python bench/multi_worker.py [--examples 1024] [--json bench/results/multi_worker.json]

The same `tfbert train` command a user types, MiniLM, the same global batch (32) and
seed: fine-tuning on the first N SST-2 training sentences (1 epoch) and masked-LM
pretraining on the sample corpus (recipes/data/pretrain, 2 epochs). One process uses
every core; each of the two workers gets half of them (the launcher's rule). On a
2-core machine no speed-up is expected (the same two cores do the same arithmetic,
plus an all-reduce of every gradient over loopback each step): the figure says what
the distribution costs, and the run checks that the workers end with the same weights.
Each row's examples/s is the one `tfbert train` prints (tracing included).
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import machine, write_json  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def run(command):
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if completed.returncode:
        sys.exit(f"failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr[-3000:]}")
    output = completed.stdout + completed.stderr
    speed = re.search(r"trained (\d+) steps \(of \d+\) in (\d+) s \(([\d.]+) examples/s\)", output)
    digests = set(re.findall(r"weights after \d+ steps: sha256 ([0-9a-f]+)", output))
    return {"steps": int(speed.group(1)), "seconds": int(speed.group(2)),
            "examples_per_second": float(speed.group(3)), "worker_digests": sorted(digests)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "multi_worker.json"))
    args = parser.parse_args()
    workloads = {
        "fine-tuning (SST-2)": ("train", "recipes/sentiment.toml", [
            f"data.train={DATA}/sst2/train.tsv", f"data.dev={DATA}/sst2/dev.tsv",
            "data.text_column=sentence", f"data.max_train_examples={args.examples}",
            "training.epochs=1", "training.patience=0", "training.baseline=false",
            "export.enabled=false"]),
        "masked-LM pretraining (sample corpus)": ("pretrain", "recipes/pretrain.toml", [
            "training.epochs=2", "training.patience=0"]),
    }
    results = {"machine": machine(), "rows": {}}
    print(json.dumps(results["machine"]))
    print(f"{'workload':40s} {'processes':>9s} {'examples/s':>10s} {'ratio':>6s}  workers agree")
    for name, (command, recipe, settings) in workloads.items():
        rows = {}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                line = [sys.executable, "-m", "tfbert.cli", command, recipe,
                        f"--set=output_dir={out}/run", *(f"--set={s}" for s in settings)]
                if workers > 1:
                    line += ["--workers", str(workers)]
                rows[workers] = run(line)
            ratio = rows[workers]["examples_per_second"] / rows[1]["examples_per_second"]
            agree = ("-" if workers == 1 else
                     "yes" if len(rows[workers]["worker_digests"]) == 1 else "NO")
            print(f"{name:40s} {workers:9d} {rows[workers]['examples_per_second']:10.1f} "
                  f"{ratio:6.2f}  {agree}", flush=True)
        results["rows"][name] = rows
    write_json(args.json, results)


if __name__ == "__main__":
    main()
