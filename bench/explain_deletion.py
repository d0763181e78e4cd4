"""Do the attributions of `tfbert explain` point at the words the answer depends on?

    python bench/explain_deletion.py [--run runs/defaults_sst2/run] [--sentences 200]
        [--steps 50] [--seed 0] [--json bench/results/explain_deletion.json]

The deletion check: for each SST-2 dev sentence (of at least 4 words), the predicted
label's probability is measured on the sentence as it is, without its 2 words of
largest attribution (integrated gradients, as `tfbert explain` computes them), and
without 2 words drawn at random (seeded). Printed: the mean drop of each and their
ratio; attributions that find what the model reads drop it more than chance does (the
issue's target: at least twice as much). The run is a fine-tuned SST-2 classifier:
`python bench/finetune.py --defaults sst2` makes runs/defaults_sst2/run.
"""

import argparse
import time

import numpy as np

import common


def without(text, words, drop):
    """The text with the words at indices `drop` cut out (their characters removed)."""
    pieces, position = [], 0
    for index in sorted(drop):
        pieces.append(text[position:words[index]["start"]])
        position = words[index]["end"]
    return " ".join(" ".join(pieces + [text[position:]]).split())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(common.ROOT / "runs" / "defaults_sst2" / "run"))
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(common.ROOT / "bench" / "results" / "explain_deletion.json"))
    args = parser.parse_args()
    common.limit_threads(args.threads)
    import tensorflow as tf

    from tfbert.explain import explain_texts
    from tfbert.run_directory import RunDirectory

    common.tf_threads(tf, args.threads)
    machine = common.machine()
    print(common.machine_line(machine, args.threads))
    task = RunDirectory(args.run).load_task()
    sentences = [s for s in common.sst2_sentences("dev") if len(s.split()) >= 4][:args.sentences]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    rows = list(explain_texts(task, sentences, steps=args.steps))
    seconds = time.perf_counter() - started
    top, random, gaps = [], [], []
    for text, row in zip(sentences, rows):
        words = [w for w in row["words"] if w["attribution"] is not None]
        order = np.argsort([-w["attribution"] for w in words])
        chance = rng.choice(len(words), size=2, replace=False)
        edited = [without(text, words, order[:2]), without(text, words, chance)]
        probabilities = task.predict(edited)["probabilities"]
        label = task.label_names.index(row["label"])
        before = row["probabilities"][row["label"]]
        top.append(before - probabilities[0][label])
        random.append(before - probabilities[1][label])
        gaps.append(row["completeness_gap"])
    result = {
        "run": args.run, "sentences": len(sentences), "steps": args.steps, "seed": args.seed,
        "mean_drop_top2": float(np.mean(top)), "mean_drop_random2": float(np.mean(random)),
        "ratio": float(np.mean(top) / np.mean(random)) if np.mean(random) else None,
        "completeness_gap_median": float(np.median(gaps)), "completeness_gap_max": float(np.max(gaps)),
        "seconds_per_sentence": seconds / len(sentences), "machine": machine,
    }
    print(f"{len(sentences)} SST-2 dev sentences, {args.steps} steps: the predicted label's "
          f"probability drops by {result['mean_drop_top2']:.4f} without the top-2 words and by "
          f"{result['mean_drop_random2']:.4f} without 2 random words: ratio {result['ratio']:.2f} "
          f"(target >= 2); completeness gap median {result['completeness_gap_median']:.3%}, max "
          f"{result['completeness_gap_max']:.3%}; {result['seconds_per_sentence']:.2f} s a sentence")
    common.write_json(args.json, result)


if __name__ == "__main__":
    main()
