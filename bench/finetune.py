"""Fine-tunes MiniLM with each recipe on the real benchmark data and prints a table.

    python bench/finetune.py                 # every task
    python bench/finetune.py sst2 mrpc       # some of them
    python bench/finetune.py --quick         # 2,000 training examples each (a smoke run)
    python bench/finetune.py --defaults      # the built-in defaults, only paths changed

Each run is `tfbert train` with the recipe in `recipes/` and the overrides below,
exactly as a user would type them (the table prints them). Task options are in the
task's own section: `classification.head`, `classification.multi_label`,
`classification.label_separator` (`regression.head` for regression). Results go to
bench/results/finetune.json. Data is read from ../shared/data, never copied.
"""

import argparse
import json
import pathlib
import shutil
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# name -> (recipe, overrides, metric to report, target from the issue)
RUNS = {
    "sst2": ("sentiment", [
        f"data.train={DATA}/sst2/train.tsv", f"data.dev={DATA}/sst2/dev.tsv",
        "data.label_column=label", "training.epochs=2", "training.learning_rate=5e-5",
    ], ("dev", "accuracy"), 0.895),
    # One epoch at 5e-5: the reference run (89.22) that refactors must stay within 0.3
    # points of. Not part of the default set.
    "sst2_1epoch": ("sentiment", [
        f"data.train={DATA}/sst2/train.tsv", f"data.dev={DATA}/sst2/dev.tsv",
        "data.label_column=label", "training.epochs=1", "training.learning_rate=5e-5",
    ], ("dev", "accuracy"), 0.8922 - 0.003),
    # The bf16 fast path of fine-tuning, against float32's one-epoch 89.22 (the speed
    # issue: a fast path may lose at most 0.3 points). Not part of the default set.
    "sst2_bf16": ("sentiment", [
        f"data.train={DATA}/sst2/train.tsv", f"data.dev={DATA}/sst2/dev.tsv",
        "data.label_column=label", "training.epochs=1", "training.learning_rate=5e-5",
        'training.mixed_precision="bf16"',
    ], ("dev", "accuracy"), 0.8922 - 0.003),
    "snips": ("intent", [
        f"data.train={DATA}/snips/train", f"data.dev={DATA}/snips/valid",
        f"data.test={DATA}/snips/test", "data.text_column=seq.in", "data.label_column=label",
        "classification.multi_label=false", "training.epochs=2",
    ], ("test", "accuracy"), 0.975),
    "atis": ("intent", [
        f"data.train={DATA}/atis/train", f"data.dev={DATA}/atis/valid",
        f"data.test={DATA}/atis/test", "data.text_column=seq.in", "data.label_column=label",
        "data.on_unknown_label=skip", "classification.head=attention", "training.epochs=10",
    ], ("test", "accuracy"), 0.965),
    "stsb": ("pair_similarity", [
        f"data.train={DATA}/stsb/train.tsv", f"data.dev={DATA}/stsb/dev.tsv",
        "training.epochs=3",
    ], ("dev", "spearman"), 0.850),
    "mrpc": ("paraphrase", [
        f"data.train={DATA}/mrpc/train.tsv", f"data.dev={DATA}/mrpc/dev.tsv",
        'data.text_column="#1 String"', 'data.text_pair_column="#2 String"',
        "data.label_column=Quality", "training.eval_metric=f1", "training.epochs=4",
        "training.learning_rate=1e-4",
    ], ("dev", "f1"), 0.850),
    # Token tagging (recipes/ner.toml, recipes/slots.toml): only paths (and, for Resume,
    # its scheme) change; the recipe's defaults otherwise. "_softmax": the same without CRF.
    "conll": ("ner", [
        f"data.train={DATA}/conll2003/train.txt", f"data.dev={DATA}/conll2003/valid.txt",
        f"data.test={DATA}/conll2003/test.txt",
    ], ("test", "f1"), 0.880),
    "conll_softmax": ("ner", [
        f"data.train={DATA}/conll2003/train.txt", f"data.dev={DATA}/conll2003/valid.txt",
        f"data.test={DATA}/conll2003/test.txt", "token_classification.crf=false",
    ], ("test", "f1"), 0.880),
    "resume": ("ner", [
        f"data.train={DATA}/resume_ner/train.char.bmes", f"data.dev={DATA}/resume_ner/dev.char.bmes",
        f"data.test={DATA}/resume_ner/test.char.bmes", "token_classification.scheme=bmes",
        "token_classification.invalid_sequences=skip",
    ], ("test", "f1"), None),
    "resume_softmax": ("ner", [
        f"data.train={DATA}/resume_ner/train.char.bmes", f"data.dev={DATA}/resume_ner/dev.char.bmes",
        f"data.test={DATA}/resume_ner/test.char.bmes", "token_classification.scheme=bmes",
        "token_classification.invalid_sequences=skip", "token_classification.crf=false",
    ], ("test", "f1"), None),
    "atis_joint": ("slots", [
        f"data.train={DATA}/atis/train", f"data.dev={DATA}/atis/valid",
        f"data.test={DATA}/atis/test", "data.on_unknown_label=keep",
    ], ("test", "f1"), 0.955, {"intent_accuracy": 0.970}),
    "snips_joint": ("slots", [
        f"data.train={DATA}/snips/train", f"data.dev={DATA}/snips/valid",
        f"data.test={DATA}/snips/test",
    ], ("test", "f1"), 0.960, {"intent_accuracy": 0.980}),
}
# The tuned runs were measured when the defaults were 3 epochs at 5e-5, [CLS] heads and
# no early stopping (recipes then set 4 epochs; pair_similarity and paraphrase 5e-5):
# those settings are pinned here so the rows stay what they measured. --defaults runs
# the built-in defaults instead.
_PINNED = {"sst2": ["classification.head=cls"], "sst2_1epoch": ["classification.head=cls"],
           "sst2_bf16": ["classification.head=cls"], "snips": ["classification.head=cls"],
           "atis": [], "stsb": ["regression.head=cls", "training.learning_rate=5e-5"],
           "mrpc": ["classification.head=cls"]}
for _name, _pins in _PINNED.items():
    RUNS[_name][1].extend(_pins + ["training.patience=0", "training.head_learning_rate=0"])

# Not run by default (long, or variants of a default run).
OPTIONAL = ("sst2_1epoch", "sst2_bf16", "conll_softmax", "resume_softmax")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", help=f"some of: {', '.join(RUNS)} (default: all but {', '.join(OPTIONAL)})")
    parser.add_argument("--quick", action="store_true", help="2,000 training examples per task")
    parser.add_argument("--defaults", action="store_true",
                        help="the built-in defaults on every classification and regression set, "
                             "changing only paths and columns (bench/finetune_defaults.py)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --defaults: a candidate default, applied to every set")
    args = parser.parse_args()
    if args.defaults:
        import finetune_defaults

        unknown = sorted(set(args.tasks) - set(finetune_defaults.SETS))
        if unknown:
            parser.error(f"unknown set(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(finetune_defaults.SETS)}")
        finetune_defaults.run(args.tasks or list(finetune_defaults.SETS), args.set, args.quick)
        return 0
    if args.set:
        parser.error("--set is for --defaults runs; the tuned runs' settings are in RUNS")

    from tfbert.recipe import load_recipe
    from tfbert.train import train

    unknown = sorted(set(args.tasks) - set(RUNS))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    results_file = ROOT / "bench" / "results" / "finetune.json"
    # Earlier runs of other tasks are kept: one task's run replaces only its own row.
    kept = json.loads(results_file.read_text()) if results_file.exists() else []
    results = []
    for name in args.tasks or [name for name in RUNS if name not in OPTIONAL]:
        recipe_name, overrides, (split, metric), target, *also = RUNS[name]
        also = also[0] if also else {}
        overrides = overrides + [f"name={name}", f"output_dir=runs/bench_{name}",
                                 "export.enabled=false"]
        if args.quick:
            overrides.append("data.max_train_examples=2000")
        command = f"tfbert train recipes/{recipe_name}.toml " + " ".join(
            f"--set '{o}'" for o in overrides)
        print(f"\n=== {name}: {command}", flush=True)
        recipe = load_recipe(ROOT / "recipes" / f"{recipe_name}.toml", overrides)
        # A benchmark starts afresh: never resume an older run's checkpoint.
        shutil.rmtree(recipe.output_dir, ignore_errors=True)
        started = time.perf_counter()
        result = train(recipe)
        metrics = result[split]
        # Examples skipped for labels unseen in training count as errors here: the
        # figure is over the whole split, as published results are.
        value = metrics[metric]
        if metrics.get("skipped"):
            value = value * metrics["examples"] / (metrics["examples"] + metrics["skipped"])
        results.append({
            "task": name, "split": split, "metric": metric, "value": value,
            "skipped": metrics.get("skipped", 0), "target": target,
            "also": {key: {"value": metrics[key], "target": also[key]} for key in also},
            "epochs": result["epochs"], "wall_seconds": time.perf_counter() - started,
            "train_examples_per_second": result["train_examples_per_second"],
            "command": command,
        })
        results_file.parent.mkdir(parents=True, exist_ok=True)
        done = {r["task"] for r in results}
        results_file.write_text(json.dumps(
            [r for r in kept if r["task"] not in done] + results, indent=2))

    print(f"\n{'task':<13}{'metric':<16}{'value':>8}{'target':>8}{'epochs':>8}{'wall s':>9}{'train ex/s':>12}")
    for r in results:
        target = "-" if r["target"] is None else f"{100 * r['target']:.1f}"
        print(f"{r['task']:<13}{r['split'] + ' ' + r['metric']:<16}{100 * r['value']:8.2f}"
              f"{target:>8}{r['epochs']:8d}{r['wall_seconds']:9.0f}"
              f"{r['train_examples_per_second']:12.1f}")
        for key, also in r.get("also", {}).items():
            print(f"{'':<13}{r['split'] + ' ' + key:<16}{100 * also['value']:8.2f}"
                  f"{100 * also['target']:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
