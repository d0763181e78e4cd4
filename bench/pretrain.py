"""Domain adaptation, measured: fine-tuning MiniLM directly against fine-tuning it after
vocabulary extension and continued masked-LM pretraining on domain text.

    python bench/pretrain.py                  # kuake, chnsenticorp, resume
    python bench/pretrain.py kuake            # some of them
    python bench/pretrain.py --pretrain-epochs 1 --quick   # a smoke run (small slices)
    python bench/pretrain.py kuake --variants direct adapted_with_task_text
    python bench/pretrain.py kuake --variants adapted_with_task_text \
        --pretrain-set pretraining.new_token_learning_rate_multiplier=10

For each dataset, with the same fine-tuning recipe and budget (only the checkpoint
changes), every run through the `tfbert` recipes a user would type:
  (a) direct:   MiniLM fine-tuned as it is (most Chinese characters are [UNK] to it);
  (b) adapted:  `recipes/pretrain.toml` with extend_vocabulary = true on the domain
                corpus (vocabulary from the corpus and the task's training texts), then
                fine-tuning from the written checkpoint;
  (c) adapted + task text: as (b), the task's training texts added to the corpus.
  adapted_all_chinese: one checkpoint for every task: the vocabulary and the corpus are
                all the Chinese text here (the medical corpus and the training texts of
                kuake, chnsenticorp and resume; no dev or test text), pretrained once and
                reused by each task's fine-tuning (the case of a team that adapts a model
                to a language once, then fine-tunes several tasks from it).
kuake: KUAKE-QIC (11 medical query intents, dev accuracy), corpus
../shared/data/medical_corpus. chnsenticorp and resume: (b) is on the task's own
training texts alone (the issue's treatment for them) and (c) is not run;
adapted_all_chinese gives them the medical corpus as well.
Pretraining time is reported beside each result. Results: bench/results/pretrain.json.
"""

import argparse
import json
import pathlib
import shutil
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MEDICAL = [DATA / "medical_corpus" / "cmeee_cmeie_texts.txt",
           DATA / "medical_corpus" / "toyhom_neike_qa.txt"]

# name -> (fine-tuning recipe, overrides, texts of the training split, (split, metric), target)
TASKS = {
    "kuake": ("sentiment", [
        f"data.train={DATA}/kuake_qic/train.tsv", f"data.dev={DATA}/kuake_qic/dev.tsv",
        "data.text_column=text", "data.label_column=label"],
        (DATA / "kuake_qic" / "train.tsv", "text"), ("dev", "accuracy"), 0.80),
    "chnsenticorp": ("sentiment", [
        f"data.train={DATA}/chnsenticorp/train.tsv", f"data.dev={DATA}/chnsenticorp/dev.tsv",
        "data.text_column=text_a", "data.label_column=label"],
        (DATA / "chnsenticorp" / "train.tsv", "text_a"), ("dev", "accuracy"), 0.918),
    "resume": ("ner", [
        f"data.train={DATA}/resume_ner/train.char.bmes", f"data.dev={DATA}/resume_ner/dev.char.bmes",
        f"data.test={DATA}/resume_ner/test.char.bmes", "token_classification.scheme=bmes",
        "token_classification.invalid_sequences=skip"],
        (DATA / "resume_ner" / "train.char.bmes", None), ("test", "f1"), 0.94),
}


def training_texts(path, column):
    """The texts of a training split, one per line (Resume: its characters joined)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if column is None:  # `c h a r s\tT A G S`
        return ["".join(line.split("\t")[0].split()) for line in lines if line.strip()]
    index = lines[0].split("\t").index(column)
    return [line.split("\t")[index] for line in lines[1:] if line.strip()]


def run_recipe(recipe_name, overrides, output_dir):
    from tfbert.recipe import load_recipe
    from tfbert.train import train

    overrides = overrides + [f"output_dir={output_dir}", "export.enabled=false"]
    command = f"tfbert train recipes/{recipe_name}.toml " + " ".join(f"--set '{o}'" for o in overrides)
    print(f"\n=== {command}", flush=True)
    shutil.rmtree(output_dir, ignore_errors=True)  # a benchmark starts afresh
    started = time.perf_counter()
    result = train(load_recipe(ROOT / "recipes" / f"{recipe_name}.toml", overrides))
    return result, time.perf_counter() - started, command


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", help=f"some of: {', '.join(TASKS)}")
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=None,
                        choices=["direct", "adapted", "adapted_with_task_text",
                                 "adapted_all_chinese"],
                        help="run only these variants (default: all of the dataset's)")
    parser.add_argument("--pretrain-set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more overrides of recipes/pretrain.toml (a row per setting: "
                             "results of other settings are kept)")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 pretraining documents, 500 training examples")
    args = parser.parse_args()
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    work = ROOT / "runs" / "bench_pretrain"
    work.mkdir(parents=True, exist_ok=True)
    results_file = ROOT / "bench" / "results" / ("quick" if args.quick else "") / "pretrain.json"

    def key(row):
        return row["task"], row["variant"], tuple(row.get("pretrain_set", []))

    task_corpora = {}
    for name, (_, _, (texts_file, column), _, _) in TASKS.items():
        task_corpora[name] = work / f"{name}_train_texts.txt"
        task_corpora[name].write_text(
            "".join(t + "\n" for t in training_texts(texts_file, column)), encoding="utf-8")

    rows = []
    for name in args.tasks or list(TASKS):
        recipe_name, overrides, _, (split, metric), target = TASKS[name]
        if args.quick:
            overrides = overrides + ["data.max_train_examples=500"]
        task_corpus = task_corpora[name]
        # variant -> (pretraining corpus, more files for the vocabulary only)
        variants = {"direct": (None, [])}
        if name == "kuake":
            variants["adapted"] = (MEDICAL, [task_corpus])
            variants["adapted_with_task_text"] = (MEDICAL + [task_corpus], [])
        else:
            variants["adapted"] = ([task_corpus], [])
        variants["adapted_all_chinese"] = (MEDICAL + list(task_corpora.values()), [])
        if args.variants:
            variants = {k: v for k, v in variants.items() if k in args.variants}
        for variant, (corpus, vocabulary_only) in variants.items():
            checkpoint, pretrain_seconds, pretrain_command = "all-minilm-l6-v2", 0.0, None
            if corpus is not None:
                files = corpus
                if args.quick:
                    files = [work / f"{name}_quick_corpus.txt"]
                    lines = [line for f in corpus for line in
                             f.read_text(encoding="utf-8").splitlines()[:700]]
                    files[0].write_text("\n".join(lines) + "\n", encoding="utf-8")
                pretrain_overrides = [
                    "data.train=" + ",".join(str(f) for f in files), 'data.dev=""',
                    "pretraining.extend_vocabulary=true", f"training.epochs={args.pretrain_epochs}",
                    'pretraining.vocabulary_files="' + ",".join(map(str, vocabulary_only)) + '"',
                    *args.pretrain_set]
                # The all-Chinese checkpoint is shared by every task: pretrained once
                # per setting, its record beside it says which.
                shared = variant == "adapted_all_chinese"
                pretrain_dir = work / ("all_chinese_pretrain" if shared else f"{name}_{variant}_pretrain")
                checkpoint = str(pretrain_dir / "checkpoint")
                done_file = pretrain_dir / "pretrain_done.json"
                done = json.loads(done_file.read_text()) if shared and done_file.exists() else {}
                if done.get("overrides") == pretrain_overrides:
                    pretrain_seconds, pretrain_command = done["result"]
                    print(f"\n=== reusing {checkpoint} ({pretrain_command})", flush=True)
                else:
                    _, pretrain_seconds, pretrain_command = run_recipe(
                        "pretrain", pretrain_overrides, pretrain_dir)
                    if shared:
                        done_file.write_text(json.dumps({"overrides": pretrain_overrides,
                                                         "result": [pretrain_seconds, pretrain_command]}))
            result, seconds, command = run_recipe(
                recipe_name, overrides + [f"checkpoint={checkpoint}"], work / f"{name}_{variant}")
            rows.append({"task": name, "variant": variant, "split": split, "metric": metric,
                         "value": result[split][metric], "target": target,
                         "pretrain_seconds": pretrain_seconds, "finetune_seconds": seconds,
                         "pretrain_command": pretrain_command, "command": command})
            if corpus is not None and args.pretrain_set:
                rows[-1]["pretrain_set"] = list(args.pretrain_set)
            results_file.parent.mkdir(parents=True, exist_ok=True)
            # Earlier rows of other (task, variant, pretraining settings) are kept: a run
            # replaces only its own. Read just before writing: another run may have
            # written meanwhile.
            kept = json.loads(results_file.read_text()) if results_file.exists() else []
            done = {key(r) for r in rows}
            results_file.write_text(json.dumps(
                [r for r in kept if key(r) not in done] + rows, indent=2))
    print(f"\n{'task':<14}{'variant':<24}{'metric':<14}{'value':>8}{'pretrain s':>12}{'tune s':>8}")
    for r in rows:
        print(f"{r['task']:<14}{r['variant']:<24}{r['split'] + ' ' + r['metric']:<14}"
              f"{100 * r['value']:8.2f}{r['pretrain_seconds']:12.0f}{r['finetune_seconds']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
