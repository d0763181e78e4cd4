"""Sentence vectors: `tfbert embed` against transformers + mean pooling, same texts.

    python bench/embed_speed.py [--quick] [--sentences 8000] [--batch-size 32]
        [--threads 2] [--json F]

all-MiniLM-L6-v2, mean pooling over the real tokens, vectors normalised to length 1
(how the checkpoint is meant to be used), max length 128, float32 unless a row says
bf16. The first --sentences SST-2 training sentences, read in place. Each row runs in
a fresh process (common.Children) with the same --threads; the timer covers loading
the checkpoint and embedding every sentence (what a user waits for), after a warm-up
call on 64 sentences in the same process (imports and one-time kernel set-up).

- tfbert: `tfbert.features.sentence_vectors(..., pooling="mean", normalize=True)`,
  the function behind `tfbert embed` (in-graph tokenizer, windows of 64 batches
  sorted by length, one tf.function, vectors written in input order).
- tfbert bf16: the same with compute_dtype="bfloat16" (`tfbert embed --compute-dtype
  bfloat16`: encoder weights and activations in bf16).
- tfbert bf16, float32 GELU: the same with the feed-forward's GELU computed in float32
  and cast back, as before 2026-12-05: the A/B of the lever that lets oneDNN fuse the
  bf16 GELU into its matmul (not a shipped row: the target ignores it).
- transformers, file order: the model card's recipe (`AutoTokenizer` +
  `AutoModel`, batches of --batch-size in file order padded to their longest row,
  masked mean of `last_hidden_state`, L2 normalisation), under `torch.inference_mode`.
- transformers, sorted: the same, with the sentences sorted by character length first and the
  vectors put back in order (what sentence-transformers' `encode` does).
- transformers bf16, sorted: as above under `torch.autocast("cpu", torch.bfloat16)`.

Printed: sentences/s per row, peak resident memory, tfbert / each peer and / the best
peer, and the largest difference between tfbert's vectors and each peer's (cosine of
the same sentence). Results: bench/results/embed_speed.json.
"""

import json
import pathlib
import time

import common

MAX_LENGTH = 128
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
ROWS = ["tfbert", "tfbert bf16", "tfbert bf16 float32 GELU", "transformers file order",
        "transformers sorted", "transformers bf16 sorted"]
LEVER_ROWS = {"tfbert bf16 float32 GELU"}  # A/B of a lever, not what tfbert ships


def tfbert_child(args, texts, bf16, float32_gelu=False):
    import tensorflow as tf

    from tfbert.features import sentence_vectors
    from tfbert.layers import transformer_block

    common.tf_threads(tf, args.threads)
    if float32_gelu:  # the lever's A/B: the cast keeps oneDNN from fusing the GELU
        transformer_block.ACTIVATIONS["gelu"] = common.float32_exact_gelu
    embed = lambda some: sentence_vectors(some, args.checkpoint_dir, pooling="mean",  # noqa: E731
                                          batch_size=args.batch_size, normalize=True,
                                          compute_dtype="bfloat16" if bf16 else "float32")
    embed(texts[:64])
    started = time.perf_counter()
    vectors = embed(texts)
    return time.perf_counter() - started, vectors


def transformers_child(args, texts, sort, bf16):
    import contextlib

    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)

    def embed(some):
        tokenizer = AutoTokenizer.from_pretrained(args.checkpoint_dir)
        model = AutoModel.from_pretrained(args.checkpoint_dir).eval()
        order = (np.argsort([len(t) for t in some], kind="stable") if sort
                 else np.arange(len(some)))
        vectors = np.zeros((len(some), model.config.hidden_size), np.float32)
        precision = (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
                     else contextlib.nullcontext())
        with torch.inference_mode(), precision:
            for first in range(0, len(some), args.batch_size):
                rows = order[first:first + args.batch_size]
                inputs = tokenizer([some[i] for i in rows], padding=True, truncation=True,
                                   max_length=MAX_LENGTH, return_tensors="pt")
                tokens = model(**inputs).last_hidden_state.float()            # [b, T, H]
                mask = inputs["attention_mask"].unsqueeze(-1).float()         # [b, T, 1]
                mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors[rows] = torch.nn.functional.normalize(mean, dim=1).numpy()
        return vectors

    embed(texts[:64])
    started = time.perf_counter()
    vectors = embed(texts)
    return time.perf_counter() - started, vectors


def child(step, args):
    import numpy as np

    texts = json.loads((pathlib.Path(args.workdir) / "texts.json").read_text())
    if step.startswith("tfbert"):
        seconds, vectors = tfbert_child(args, texts, bf16="bf16" in step,
                                        float32_gelu=step.endswith("float32 GELU"))
    else:
        seconds, vectors = transformers_child(args, texts, sort="sorted" in step,
                                              bf16="bf16" in step)
    np.save(pathlib.Path(args.workdir) / f"{step.replace(' ', '_')}.npy", vectors)
    print(f"  {step:<26}{len(texts) / seconds:9.1f} sentences/s ({seconds:.1f} s)", flush=True)
    common.write_child_result(args, {"sentences_per_s": len(texts) / seconds,
                                     "seconds": seconds, "peak_rss_mib": common.peak_rss_mib()})


def main():
    parser = common.parser(__doc__, quick_help="512 sentences")
    parser.add_argument("--sentences", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    if args.quick:
        args.sentences = 512
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    import numpy as np

    machine = common.machine()
    texts = common.sst2_sentences("train", args.sentences)
    with common.Children(__file__, common.flags(args, "threads", "batch_size"),
                         checkpoint=True) as children:
        (children.workdir / "texts.json").write_text(json.dumps(texts))
        results, notes = children.run_all(ROWS)
        vectors = {row: np.load(children.workdir / f"{row.replace(' ', '_')}.npy")
                   for row in results}
    print("\n" + common.machine_line(machine, args.threads))
    print(f"\n{len(texts)} SST-2 training sentences to normalised mean-pooled MiniLM vectors, "
          f"batch {args.batch_size}, max length {MAX_LENGTH}, checkpoint loading included")
    print(f"{'row':<28}{'sent/s':>9}{'peak MiB':>10}{'tfbert / row':>14}{'max |cos diff|':>16}")
    for row, result in results.items():
        ratio = (results["tfbert"]["sentences_per_s"] / result["sentences_per_s"]
                 if "tfbert" in results else float("nan"))
        difference = (float(np.max(np.abs(1 - np.sum(vectors["tfbert"] * vectors[row], axis=1))))
                      if "tfbert" in vectors else float("nan"))
        result.update(ratio=ratio, max_cosine_difference=difference)
        print(f"{row:<28}{result['sentences_per_s']:9.1f}{result['peak_rss_mib']:10.0f}"
              f"{ratio:13.2f}x{difference:16.2e}")
    # The target compares each side's fastest row (bf16 on machines with bf16 units).
    ours = {row: r for row, r in results.items()
            if row.startswith("tfbert") and row not in LEVER_ROWS}
    peers = {row: r for row, r in results.items() if not row.startswith("tfbert")}
    fastest = lambda rows: max(rows, key=lambda row: rows[row]["sentences_per_s"])  # noqa: E731
    best = fastest(peers) if peers else None
    mine = fastest(ours) if ours else None
    ratio = (ours[mine]["sentences_per_s"] / peers[best]["sentences_per_s"]
             if best and mine else None)
    if ratio is not None:
        print(f"\ntfbert's fastest ({mine}) / best peer ({best}): {ratio:.2f}x "
              f"(needed >= 1.5x: {'met' if ratio >= 1.5 else 'NOT MET'})")
    for step, note in notes.items():
        print(f"{step}: {note}")
    common.write_json(args.json or RESULTS / ("quick" if args.quick else "") / "embed_speed.json", {
        "machine": machine, "threads": args.threads, "quick": args.quick,
        "batch_size": args.batch_size, "max_length": MAX_LENGTH, "sentences": len(texts),
        "results": results, "best_peer": best, "fastest_tfbert": mine, "ratio": ratio,
        "not_run": notes})


if __name__ == "__main__":
    main()
