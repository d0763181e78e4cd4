"""The bag-of-words baseline (tfbert/evaluation/baseline.py) on every classification and regression
dataset of ../shared/data, beside tfbert's fine-tuned result on the same split.

    python bench/baseline.py             # sst2 snips atis stsb mrpc
    python bench/baseline.py sst2 mrpc   # some of them

Each run is `tfbert baseline` with the recipe and the data overrides of
bench/finetune.py (its training settings do not matter to the baseline). tfbert's
figure is the latest row of bench/results/finetune.json for that task. Results go to
bench/results/baseline.json.
"""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import ROOT, machine, write_json  # noqa: E402
from finetune import RUNS  # noqa: E402

from tfbert.evaluation.baseline import run_baseline  # noqa: E402
from tfbert.recipe import load_recipe  # noqa: E402

DEFAULT = ("sst2", "snips", "atis", "stsb", "mrpc")
RESULTS = ROOT / "bench" / "results"


def tuned_result(task):
    rows = [row for row in json.loads((RESULTS / "finetune.json").read_text()) if row["task"] == task]
    return rows[-1]["value"] if rows else None


def main(names):
    rows = []
    print(f"{'task':8} {'split':5} {'metric':9} {'baseline':>8} {'tfbert':>8} {'gap':>7}  seconds  model")
    for name in names or DEFAULT:
        recipe_name, overrides, (split, metric), *_ = RUNS[name]
        recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.toml", overrides)
        result = run_baseline(recipe)
        value, tuned = result[split][metric], tuned_result(name)
        gap = "" if tuned is None else f"{100 * (tuned - value):+.1f}"
        print(f"{name:8} {split:5} {metric:9} {100 * value:8.2f} "
              f"{'' if tuned is None else f'{100 * tuned:8.2f}'} {gap:>7}  {result['seconds']:7.1f}  "
              f"{result['model']}")
        rows.append({"task": name, "split": split, "metric": metric, "baseline": value,
                     "tfbert_tuned": tuned, "seconds": result["seconds"], "model": result["model"],
                     "command": f"tfbert baseline recipes/{recipe_name}.toml "
                                + " ".join(f"--set '{o}'" for o in overrides)})
    write_json(RESULTS / "baseline.json", {"machine": machine(), "runs": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
