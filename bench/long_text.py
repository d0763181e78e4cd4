"""Long texts: `long_text = "truncate"` against `"windows"`, same data, same defaults.

    python bench/long_text.py                               # ChnSentiCorp, max_length 64, 2,000 examples
    python bench/long_text.py --max-length 256 --full       # the default length, every example

Each variant is a `tfbert train` run of the defaults recipe (bench/finetune_defaults.py:
only paths changed) with `classification.long_text` set; the table splits the test
accuracy into the texts that fit in `max_length` and those that do not (pieces counted
by the model's own tokenizer), and gives each run's wall time. A shorter max_length
than the default makes more of the texts long, so the windows' effect shows on a
smaller run; `--max-length 256` measures the default itself. Rows go to
bench/results/long_text.json.
"""

import argparse
import json
import sys
import time

import common
import finetune_defaults


def split_accuracy(run_dir, tokenizer, split):
    rows = [json.loads(line) for line in
            (run_dir / f"eval_{split}" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    pieces = tokenizer.tokenize([row["text"] for row in rows]).row_lengths().numpy()
    long = pieces + 2 > tokenizer.max_length
    accuracy = lambda chosen: (sum(r["correct"] for r, c in zip(rows, chosen) if c)  # noqa: E731
                               / max(1, sum(chosen)))
    return {"examples": len(rows), "long_examples": int(long.sum()),
            "accuracy": accuracy([True] * len(rows)), "accuracy_long": accuracy(long),
            "accuracy_short": accuracy(~long)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set-name", default="chnsenticorp", choices=sorted(finetune_defaults.SETS))
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--full", action="store_true", help="every training example (else 2,000)")
    parser.add_argument("--variants", nargs="+", default=["truncate", "windows"])
    args = parser.parse_args()

    from tfbert.run_directory import RunDirectory

    machine = common.machine()
    print(common.machine_line(machine, "all"), flush=True)
    task, data, section, (split, _), _, _ = finetune_defaults.SETS[args.set_name]
    results = []
    for variant in args.variants:
        started = time.perf_counter()
        finetune_defaults.run([args.set_name], [f"training.max_length={args.max_length}",
                                                f"{task}.long_text={variant}"], quick=not args.full)
        run_dir = common.ROOT / "runs" / f"defaults_{args.set_name}" / "run"
        tokenizer = RunDirectory(run_dir).load_task().tokenizer
        row = {"set": args.set_name, "split": split, "max_length": args.max_length,
               "long_text": variant, "full": args.full, "machine": machine,
               "wall_seconds": round(time.perf_counter() - started, 1),
               **split_accuracy(run_dir, tokenizer, split)}
        results.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{args.set_name} {split}, max_length {args.max_length}, "
          f"{'all' if args.full else '2,000'} training examples")
    print(f"{'long_text':<10}{'accuracy':>10}{'long texts':>12}{'short texts':>13}{'wall s':>9}")
    for r in results:
        print(f"{r['long_text']:<10}{100 * r['accuracy']:>10.2f}{100 * r['accuracy_long']:>12.2f}"
              f"{100 * r['accuracy_short']:>13.2f}{r['wall_seconds']:>9.0f}")
    print(f"({results[0]['long_examples']} of {results[0]['examples']} {split} texts are longer "
          f"than {args.max_length} pieces)")
    out = common.ROOT / "bench" / "results" / "long_text.json"
    kept = json.loads(out.read_text()) if out.exists() else []
    key = lambda r: (r["set"], r["max_length"], r["long_text"], r["full"])  # noqa: E731
    done = {key(r) for r in results}
    out.write_text(json.dumps([r for r in kept if key(r) not in done] + results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
