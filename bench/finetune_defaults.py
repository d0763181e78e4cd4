"""The defaults, on every classification and regression set in ../shared/data.

    python bench/finetune.py --defaults                       # all seven
    python bench/finetune.py --defaults atis mrpc             # some of them
    python bench/finetune.py --defaults --set training.learning_rate=3e-5   # a candidate

Each run is `tfbert train` on a recipe that names only the task kind, the data paths
and the columns (written to runs/defaults_<name>/recipe.toml and printed): every
other setting is tfbert's built-in default, as a user gets it by changing only paths.
`--set KEY=VALUE` tries a candidate default on all of them (the grid). Printed beside
each: the per-dataset tuned result of `bench/finetune.py` (bench/results/finetune.json),
the bag-of-words baseline the run itself fits, and a published BERT-base figure.
Results: bench/results/defaults.json (one row per dataset and candidate). Classifiers
are calibrated on dev (a temperature, the default): each row also holds the expected
calibration error and Brier score before and after, per split, printed as a table.
"""

import json
import pathlib
import shutil
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# name -> (task, data keys, (split, metric), tuned result of today, published BERT-base)
# Published: Devlin et al. 2019 (GLUE test: SST-2 93.5, MRPC F1 88.9, STS-B Spearman
# 85.8); Chen et al. 2019, "BERT for joint intent classification and slot filling"
# (SNIPS 98.6, ATIS 97.5 intent accuracy); Sun et al. 2019, ERNIE (ChnSentiCorp test
# 94.3 with Chinese BERT-base); KUAKE-QIC: CBLUE (Zhang et al. 2022), BERT-base-Chinese
# 84.3 (as ../shared/data/README.md gives it).
SETS = {
    "atis": ("classification", {
        "train": f"{DATA}/atis/train", "dev": f"{DATA}/atis/valid", "test": f"{DATA}/atis/test",
        "text_column": "seq.in", "label_column": "label", "on_unknown_label": "skip"},
        {"multi_label": True}, ("test", "accuracy"), 0.9698, 0.975),
    "snips": ("classification", {
        "train": f"{DATA}/snips/train", "dev": f"{DATA}/snips/valid", "test": f"{DATA}/snips/test",
        "text_column": "seq.in", "label_column": "label"}, {}, ("test", "accuracy"), 0.9786, 0.986),
    "stsb": ("regression", {
        "train": f"{DATA}/stsb/train.tsv", "dev": f"{DATA}/stsb/dev.tsv",
        "text_column": "sentence1", "text_pair_column": "sentence2", "label_column": "score"},
        {}, ("dev", "spearman"), 0.8528, 0.858),
    "mrpc": ("classification", {
        "train": f"{DATA}/mrpc/train.tsv", "dev": f"{DATA}/mrpc/dev.tsv",
        "text_column": "#1 String", "text_pair_column": "#2 String", "label_column": "Quality"},
        {}, ("dev", "f1"), 0.8681, 0.889),
    "sst2": ("classification", {
        "train": f"{DATA}/sst2/train.tsv", "dev": f"{DATA}/sst2/dev.tsv",
        "text_column": "sentence", "label_column": "label"}, {}, ("dev", "accuracy"), 0.8991, 0.935),
    "chnsenticorp": ("classification", {
        "train": f"{DATA}/chnsenticorp/train.tsv", "dev": f"{DATA}/chnsenticorp/dev.tsv",
        "test": f"{DATA}/chnsenticorp/test.tsv", "text_column": "text_a", "label_column": "label"},
        {}, ("test", "accuracy"), None, 0.943),
    "kuake": ("classification", {
        "train": f"{DATA}/kuake_qic/train.tsv", "dev": f"{DATA}/kuake_qic/dev.tsv",
        "text_column": "text", "label_column": "label"}, {}, ("dev", "accuracy"), None, 0.843),
}
ENGLISH = ("atis", "snips", "stsb", "mrpc", "sst2")


def recipe_text(name, task, data, section):
    """A recipe with nothing but the task, the paths and the columns (TOML)."""
    lines = [f'name = "defaults_{name}"', f'task = "{task}"', "", "[data]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in data.items()]
    if section:  # what the data's format needs (ATIS names several intents in one label)
        lines += ["", f"[{task}]"] + [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    return "\n".join(lines + ["", "[export]", "enabled = false", ""])


def run(names, overrides, quick=False):
    from tfbert.recipe import load_recipe
    from tfbert.train import train

    results_file = ROOT / "bench" / "results" / "defaults.json"
    candidate = " ".join(overrides) or "defaults"
    rows = []
    for name in names:
        task, data, section, (split, metric), tuned, published = SETS[name]
        folder = ROOT / "runs" / f"defaults_{name}"
        shutil.rmtree(folder, ignore_errors=True)  # a benchmark starts afresh
        folder.mkdir(parents=True)
        recipe_file = folder / "recipe.toml"
        recipe_file.write_text(recipe_text(name, task, data, section))
        extra = list(overrides) + [f"output_dir={folder / 'run'}"]
        if quick:
            extra.append("data.max_train_examples=2000")
        print(f"\n=== {name}: tfbert train {recipe_file} "
              + " ".join(f"--set '{o}'" for o in extra) + "\n" + recipe_file.read_text(), flush=True)
        started = time.perf_counter()
        result = train(load_recipe(recipe_file, extra))
        metrics = result[split]
        value = metrics[metric]
        if metrics.get("skipped"):  # labels unseen in training count as errors
            value = value * metrics["examples"] / (metrics["examples"] + metrics["skipped"])
        baseline = result.get("baseline", {}).get(split, {}).get(metric)
        rows.append({"task": name, "candidate": candidate, "split": split, "metric": metric,
                     "value": value, "tuned": tuned, "baseline": baseline, "published": published,
                     "epochs": result["epochs"], "best_epoch": result.get("best_epoch"),
                     "stopped_early": result.get("stopped_early"),
                     "calibration": calibration_figures(result),
                     "wall_seconds": time.perf_counter() - started, "quick": quick})
        results_file.parent.mkdir(parents=True, exist_ok=True)
        # Read again just before writing: another run may have added its rows meanwhile.
        kept = json.loads(results_file.read_text()) if results_file.exists() else []
        done = {(r["task"], r["candidate"]) for r in rows}
        results_file.write_text(json.dumps(
            [r for r in kept if (r["task"], r.get("candidate")) not in done] + rows, indent=2))
        print_table(rows)
    return rows


def calibration_figures(result):
    """Per split with labels: the temperature fitted on dev, ECE (15 bins) and Brier
    score at it and at 1 (the logits as trained)."""
    figures = {}
    for split in ("dev", "test"):
        calibration = (result.get(split) or {}).get("calibration")
        if calibration:
            before = calibration.get("uncalibrated", calibration)
            figures[split] = {"temperature": calibration["temperature"],
                              "ece": calibration["ece"], "ece_uncalibrated": before["ece"],
                              "brier": calibration["brier"], "brier_uncalibrated": before["brier"]}
    return figures


def print_calibration(rows):
    lines = []
    for r in rows:
        for split, c in (r.get("calibration") or {}).items():
            t = c["temperature"]
            shown = f"{t:.3f}" if not isinstance(t, list) else f"{min(t):.2f}-{max(t):.2f}"
            fitted_on = " (the split T was fitted on)" if split == "dev" else ""
            lines.append(f"{r['task']:<13}{split:<6}{shown:>12}{c['ece_uncalibrated']:>11.4f}"
                         f"{c['ece']:>10.4f}{c['brier_uncalibrated']:>13.4f}{c['brier']:>12.4f}{fitted_on}")
    if lines:
        print(f"\n{'task':<13}{'split':<6}{'temperature':>12}{'ECE before':>11}{'ECE after':>10}"
              f"{'Brier before':>13}{'Brier after':>12}")
        print("\n".join(lines), flush=True)


def print_table(rows):
    percent = lambda value: "-" if value is None else f"{100 * value:.2f}"  # noqa: E731
    print(f"\n{'task':<13}{'metric':<15}{'defaults':>9}{'tuned':>8}{'baseline':>9}{'BERT-base':>10}"
          f"{'vs base':>8}{'vs tuned':>9}  epochs (best)  candidate")
    for r in rows:
        above = "-" if r["baseline"] is None else f"{100 * (r['value'] - r['baseline']):+.2f}"
        versus = "-" if r["tuned"] is None else f"{100 * (r['value'] - r['tuned']):+.2f}"
        print(f"{r['task']:<13}{r['split'] + ' ' + r['metric']:<15}{percent(r['value']):>9}"
              f"{percent(r['tuned']):>8}{percent(r['baseline']):>9}{percent(r['published']):>10}"
              f"{above:>8}{versus:>9}  {r['epochs']} ({r['best_epoch']})  {r['candidate']}",
              flush=True)
    print_calibration(rows)
