"""Writes recipes/data/pretrain/{train,dev}.txt: a small corpus for recipes/pretrain.toml.

Its sentences are those of the project's own sample sets (tools/make_sample_data.py:
sentiment reviews, intent requests, the NER and slots samples' sentences are left
out), grouped into "documents" of 3 to 8 sentences of one set, one document per line.
Seeded and standard library only: a re-run writes the same bytes.

    python tools/make_pretraining_corpus.py
"""

import csv
import json
import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "recipes" / "data"


def sentences():
    rows = []
    for split in ("train", "dev"):
        with open(DATA / "sentiment" / f"{split}.tsv", encoding="utf-8") as f:
            rows += [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]
        with open(DATA / "intent" / f"{split}.jsonl", encoding="utf-8") as f:
            rows += [json.loads(line)["text"] for line in f if line.strip()]
    return [r.strip().rstrip(".!?") + "." for r in rows if r.strip()]


def main():
    rng = random.Random(12)
    pool = sentences()
    rng.shuffle(pool)
    documents, start = [], 0
    while start < len(pool):
        size = rng.randint(3, 8)
        documents.append(" ".join(s[0].upper() + s[1:] for s in pool[start:start + size]))
        start += size
    out = DATA / "pretrain"
    out.mkdir(parents=True, exist_ok=True)
    dev = len(documents) // 10
    (out / "dev.txt").write_text("".join(d + "\n" for d in documents[:dev]), encoding="utf-8")
    (out / "train.txt").write_text("".join(d + "\n" for d in documents[dev:]), encoding="utf-8")
    print(f"{len(documents) - dev} train and {dev} dev documents in {out}")


if __name__ == "__main__":
    main()
