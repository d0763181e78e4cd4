"""Masked-LM pretraining speed: tfbert against transformers, same model, corpus and length.

    python bench/pretrain_speed.py [--quick] [--sequences 640] [--batch-size 32]
        [--warmup-steps 3] [--threads 2] [--json F]

all-MiniLM-L6-v2 (fresh masked-LM heads) on ../shared/data/medical_corpus
(toyhom_neike_qa.txt: doctor-patient Q&A documents), max length 128, AdamW 1e-4, float32, no next-sentence
prediction. The parent packs the corpus once with tfbert (`pack_corpus`: sentences of
a document packed up to 128) and hands the same packed sequences, in the same batches
(tfbert's plan: shuffled, length-bucketed), to both children, each in a fresh process:

- tfbert: `MaskedLanguageModel.fit` on the packed corpus; masks drawn in tf.data;
  the vocabulary projection only at the selected (15 %) positions.
- transformers: `BertForMaskedLM` in a plain PyTorch loop, batches made by
  `DataCollatorForLanguageModeling(mlm_probability=0.15)` (80/10/10, labels -100),
  each padded to its longest row; the model scores every position (that is what
  BertForMaskedLM does), the loss only the selected ones.

Reported: real (non-padding) tokens per second of the timed steps (after the warm-up
steps) and the ratio. Results: bench/results/pretrain_speed.json.
"""

import json
import pathlib
import time

import common
from train_speed import padded_tokens, step_timer

LEARNING_RATE, MAX_LENGTH, SEED = 1e-4, 128, 0
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
CORPUS = common.DATA / "medical_corpus" / "toyhom_neike_qa.txt"


def tfbert_child(args, data):
    import numpy as np
    import tensorflow as tf

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.data.pretraining_data import PackedCorpus
    from tfbert.tasks.masked_lm import MaskedLanguageModel
    from tfbert.training.optimizer import make_optimizer

    common.tf_threads(tf, args.threads)
    model = MaskedLanguageModel(BertEncoder.from_pretrained(args.checkpoint_dir),
                                BertTokenizer.from_pretrained(args.checkpoint_dir,
                                                              max_length=MAX_LENGTH))
    first = tf.ragged.constant(data["first"], tf.int32, ragged_rank=1, inner_shape=())
    second = tf.ragged.constant([[] for _ in data["first"]], tf.int32, ragged_rank=1,
                                inner_shape=())
    labels = np.full(len(data["first"]), -1, np.int32)
    packed = PackedCorpus(None, first, second, labels, np.array(data["lengths"]))
    batches = [np.array(batch) for batch in data["batches"]]
    model.compile(optimizer=make_optimizer(LEARNING_RATE, len(batches), 0.0, 0.01, 1.0))
    timer = step_timer(args.warmup_steps)
    # A tf.data.Dataset goes straight to Keras' fit: the planned batches, in order.
    model.fit(packed.dataset(model.tokenizer, batches, model.preprocessor.preprocess), epochs=1, verbose=0,
              callbacks=[timer])
    return timer.seconds


def transformers_child(args, data):
    import torch
    from transformers import BertForMaskedLM, BertTokenizerFast, DataCollatorForLanguageModeling

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    tokenizer = BertTokenizerFast.from_pretrained(args.checkpoint_dir)
    model = BertForMaskedLM.from_pretrained(args.checkpoint_dir).train()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    rows = [[tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id] for ids in data["first"]]
    started = None
    for step, batch in enumerate(data["batches"]):
        if step == args.warmup_steps:
            started = time.perf_counter()
        inputs = collator([{"input_ids": rows[i]} for i in batch])
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started


def child(step, args):
    data = json.loads((pathlib.Path(args.workdir) / "packed.json").read_text())
    seconds = (tfbert_child if step == "tfbert" else transformers_child)(args, data)
    timed = data["batches"][args.warmup_steps:]
    tokens = sum(data["lengths"][i] for batch in timed for i in batch)
    print(f"  {step:<14}{tokens / seconds:9.0f} tokens/s ({tokens} tokens in {seconds:.1f} s)",
          flush=True)
    common.write_child_result(args, {"tokens_per_s": tokens / seconds, "seconds": seconds,
                                     "tokens": tokens, "peak_rss_mib": common.peak_rss_mib()})


def write_data(workdir, args):
    """Packs the corpus with tfbert (TensorFlow in this parent only), plans the batches."""
    from tfbert import BertTokenizer
    from tfbert.data.corpus import read_corpus
    from tfbert.data.pipeline import plan_batches
    from tfbert.data.pretraining_data import pack_corpus
    from tfbert.models.pretrained import resolve_checkpoint_dir

    tokenizer = BertTokenizer.from_pretrained(resolve_checkpoint_dir("all-minilm-l6-v2"),
                                              max_length=MAX_LENGTH)
    corpus = read_corpus(CORPUS)
    count = args.sequences + args.warmup_steps * args.batch_size
    corpus.documents = corpus.documents[:count * 3]  # enough text, not the whole file
    packed = pack_corpus(tokenizer, corpus, seed=SEED)
    first = packed.first_ids.to_list()[:count]
    lengths = [int(n) for n in packed.lengths[:count]]
    batches = [b.tolist() for b in plan_batches(lengths, args.batch_size, shuffle=True, seed=SEED)]
    (workdir / "packed.json").write_text(json.dumps(
        {"first": first, "lengths": lengths, "batches": batches}))
    return lengths, batches


def main():
    parser = common.parser(__doc__, quick_help="64 timed sequences")
    parser.add_argument("--sequences", type=int, default=640, help="timed packed sequences")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-steps", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.sequences = 64
    common.limit_threads(args.threads)
    if args.child:
        return child(args.child, args)

    machine = common.machine()
    options = common.flags(args, "threads", "batch_size", "warmup_steps")
    with common.Children(__file__, options, checkpoint=True) as children:
        lengths, batches = write_data(children.workdir, args)
        results, notes = children.run_all(["tfbert", "transformers"])
    print("\n" + common.machine_line(machine, args.threads))
    print(f"\nMasked-LM pretraining, MiniLM, {CORPUS.name} packed to {MAX_LENGTH}: "
          f"{len(batches) - args.warmup_steps} timed batches of {args.batch_size} after "
          f"{args.warmup_steps} warm-up, {padded_tokens(lengths, batches)} padded tokens in all")
    print(f"{'row':<16}{'tokens/s':>10}{'peak MiB':>10}")
    for row, result in results.items():
        print(f"{row:<16}{result['tokens_per_s']:10.0f}{result['peak_rss_mib']:10.0f}")
    ratio = (results["tfbert"]["tokens_per_s"] / results["transformers"]["tokens_per_s"]
             if len(results) == 2 else None)
    if ratio is not None:
        print(f"\ntfbert / transformers: {ratio:.2f}x (needed >= 1.3x: "
              f"{'met' if ratio >= 1.3 else 'NOT MET'})")
    for step, note in notes.items():
        print(f"{step}: {note}")
    common.write_json(args.json or RESULTS / ("quick" if args.quick else "") / "pretrain_speed.json", {
        "machine": machine, "threads": args.threads, "quick": args.quick,
        "batch_size": args.batch_size, "warmup_steps": args.warmup_steps,
        "max_length": MAX_LENGTH, "sequences": len(lengths), "results": results,
        "ratio": ratio, "not_run": notes})


if __name__ == "__main__":
    main()
