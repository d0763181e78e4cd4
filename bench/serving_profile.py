"""Where one single-sentence request's time goes in the served graph.

    python bench/serving_profile.py [--requests 200] [--threads 2] [--chunk 16|none]
        [--onednn off|on] [--xla] [--json bench/results/serving_profile_<onednn>[_xla].json]

The MiniLM classifier of bench/serving_levers.py (seeded head) is exported float32,
then loaded the way TF Serving loads it (the TF1 loader, a Session on the
SignatureDef) and sent SST-2 dev sentences one per request. After a warm-up, each
request runs with FULL_TRACE run metadata; the per-node times of the CPU device's
step stats are summed over the requests and printed per request: the top ops by
time (op type and node), the same by op type, and by part of the graph (tokenizer,
encoder, length-sorted chunking, head and output), with the node count, beside the
request's own wall time. --onednn off (the default) is the CPU server environment that
`tfbert export` writes (TF_ENABLE_ONEDNN_OPTS=0); on is TensorFlow's own default.
--xla profiles the export made with jit_compile=True (its warm-up requests replayed
first: they compile its shapes). Tracing adds overhead of its own, so the wall time of the
traced requests is above the untraced one (both printed); the shares are what counts.
"""

import argparse
import collections
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402
from serving_levers import export_variants, warmup_texts  # noqa: E402

PARTS = (  # first match of a node's name (lower case) decides its part
    ("tokenizer", ("tokenizer", "wordpiece", "normalize", "regex", "split", "lower", "pack",
                   "fast_bert", "ragged", "case_fold", "lookup", "hash_table")),
    ("encoder", ("encoder", "embeddings", "transformer", "attention", "layer_norm", "intermediate",
                 "pooler", "bert")),
    ("length-sorted chunking", ("while", "tensorarray", "argsort", "scatter", "topk")),
)


def part_of(name):
    lowered = name.lower()
    for part, needles in PARTS:
        if any(needle in lowered for needle in needles):
            return part
    return "other (head, outputs, casts, glue)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk", default="16")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--onednn", choices=("off", "on"), default="off")
    parser.add_argument("--xla", action="store_true", help="the export made with jit_compile=True")
    parser.add_argument("--json")
    args = parser.parse_args()
    args.json = args.json or str(pathlib.Path(__file__).parent / "results"
                                 / f"serving_profile_onednn_{args.onednn}"
                                 f"{'_xla' if args.xla else ''}.json")
    common.limit_threads(args.threads)
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (the tokenizer ops)

    variant = f"float32:{args.chunk}" + (":xla" if args.xla else "")
    workdir = pathlib.Path(tempfile.mkdtemp())
    export_variants(workdir, [variant])
    sentences = common.sst2_sentences("dev", args.requests)
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                      inter_op_parallelism_threads=args.threads)
    warmup = warmup_texts(workdir / variant.replace(":", "-") / "1")
    with tf.compat.v1.Session(graph=tf.Graph(), config=config) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], str(workdir / variant.replace(":", "-") / "1"))
        signature = meta_graph.signature_def["serving_default"]
        text = signature.inputs["text"].name
        fetches = [output.name for output in signature.outputs.values()]
        node_count = len(session.graph.as_graph_def().node)
        for texts in warmup:
            session.run(fetches, {text: texts})
        for sentence in sentences[:20]:  # warm-up
            session.run(fetches, {text: np.array([sentence.encode()], dtype=object)})
        started = time.perf_counter()
        for sentence in sentences:
            session.run(fetches, {text: np.array([sentence.encode()], dtype=object)})
        untraced_ms = (time.perf_counter() - started) * 1000 / len(sentences)

        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        by_node, by_type, by_part = collections.Counter(), collections.Counter(), collections.Counter()
        executed = collections.Counter()
        started = time.perf_counter()
        for sentence in sentences:
            metadata = tf.compat.v1.RunMetadata()
            session.run(fetches, {text: np.array([sentence.encode()], dtype=object)},
                        options=options, run_metadata=metadata)
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    micros = node.all_end_rel_micros  # from the node's start to its end
                    op = node.timeline_label.split("(")[0].split("=")[-1].strip() or node.node_name
                    by_node[(op, node.node_name)] += micros
                    by_type[op] += micros
                    by_part[part_of(node.node_name)] += micros
                    executed[part_of(node.node_name)] += 1
        traced_ms = (time.perf_counter() - started) * 1000 / len(sentences)

    n = len(sentences)
    total = sum(by_type.values()) / n / 1000
    print(common.machine())
    print(f"{variant}, oneDNN {args.onednn}, one sentence per request, {args.threads} threads, {n} requests, "
          f"{node_count} graph nodes")
    print(f"wall per request: {untraced_ms:.2f} ms untraced, {traced_ms:.2f} ms traced; "
          f"summed node time {total:.2f} ms (nodes overlap on {args.threads} threads)")
    print(f"\ntop {args.top} nodes by time (ms per request, share of node time):")
    for (op, name), micros in by_node.most_common(args.top):
        print(f"  {micros / n / 1000:7.3f}  {micros / n / 1000 / total:6.1%}  {op:22s} {name[:90]}")
    print(f"\ntop {args.top} op types:")
    for op, micros in by_type.most_common(args.top):
        print(f"  {micros / n / 1000:7.3f}  {micros / n / 1000 / total:6.1%}  {op}")
    print("\nby part of the graph (ms per request, share, nodes run per request):")
    for part, micros in by_part.most_common():
        print(f"  {micros / n / 1000:7.3f}  {micros / n / 1000 / total:6.1%}  {part} "
              f"({executed[part] / n:.0f} nodes)")
    common.write_json(args.json, {
        "machine": common.machine(), "variant": variant, "onednn": args.onednn, "threads": args.threads, "requests": n,
        "graph_nodes": node_count, "untraced_ms": untraced_ms, "traced_ms": traced_ms,
        "node_ms": total,
        "top_nodes": [[op, name, micros / n / 1000] for (op, name), micros in by_node.most_common(30)],
        "op_types": {op: micros / n / 1000 for op, micros in by_type.most_common()},
        "parts": {part: micros / n / 1000 for part, micros in by_part.items()},
        "nodes_run": {part: count / n for part, count in executed.items()}})


if __name__ == "__main__":
    main()
