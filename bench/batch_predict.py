"""`tfbert predict` on large inputs: memory flat in the input's size, throughput of the
streaming path against the in-memory one, and the Beam pipeline with two workers.

    python bench/batch_predict.py [--lines 10000 1000000] [--threads 2] [--tiny] [--no-beam]

A 77-label classifier (MiniLM with a fresh head: speed and memory do not depend on
training; --tiny: a random 2-layer model) is saved as a run directory; inputs are
sentences of the committed sample set repeated to each size. Each measurement is a
fresh process (`--child`): peak resident memory of `tfbert predict` per size, its rows/s
after the model is loaded (the first window's tracing included), `Task.predict` on the
first 10,000 texts held in memory (rows/s of a second call: no tracing), and `tfbert predict --runner DirectRunner` with two worker processes against
one `tfbert predict` process on the smallest input (wall time, start-up included: what
a user sees). Figures go to bench/results/batch_predict.json.
"""

import json
import pathlib
import subprocess
import sys
import time

import common

SAMPLE = common.ROOT / "recipes" / "data" / "sentiment" / "train.tsv"
LABELS = 77


def make_run(workdir, tiny):
    """A run directory with a 77-label classifier, as `tfbert train` leaves one."""
    import keras

    from tfbert import BertEncoder, BertTokenizer
    from tfbert.recipe import load_recipe
    from tfbert.run_directory import RunDirectory
    from tfbert.tasks import TextClassifier

    keras.utils.set_random_seed(0)
    tokenizer = BertTokenizer.from_pretrained(common.CHECKPOINT)
    if tiny:
        encoder = BertEncoder(vocab_size=len(tokenizer.vocabulary), hidden_size=32, num_layers=2,
                              num_heads=4, intermediate_size=64)
    else:
        encoder = BertEncoder.from_pretrained(common.CHECKPOINT)
    model = TextClassifier(encoder, tokenizer, [f"intent_{i:02d}" for i in range(LABELS)])
    run = RunDirectory(workdir / "run")
    run.start(load_recipe(common.ROOT / "recipes" / "sentiment.toml", [
        f"output_dir={run.path}", f"export.dir={workdir / 'saved_models'}"]))
    run.save_task(model)
    from tfbert.export import export_for_serving

    export_for_serving(model, workdir / "saved_models", "sentiment")
    return run.path


def write_input(path, lines):
    sentences = [line.split("\t")[0].strip() for line in SAMPLE.read_text().splitlines()[1:]]
    with open(path, "w") as file:
        file.write("sentence\n")
        for i in range(lines):
            file.write(sentences[i % len(sentences)] + "\n")
    return path


def child(args):
    common.limit_threads(args.threads)
    workdir = pathlib.Path(args.workdir)
    lines = args.lines[0]
    if args.child == "predict":
        from tfbert.predict import predict_files

        result = predict_files(workdir / "run", workdir / f"in-{lines}.tsv",
                               workdir / f"out-{lines}.jsonl", force=True, progress=False,
                               log=lambda message: None)
        data = {"lines": lines, "rows": result["rows"], "seconds": result["seconds"],
                "rows_per_second": result["rows"] / result["seconds"],
                "peak_rss_mib": common.peak_rss_mib()}
    elif args.child == "in_memory":
        from tfbert.run_directory import RunDirectory

        task = RunDirectory(workdir / "run").load_task()
        texts = [line.strip() for line in
                 (workdir / f"in-{lines}.tsv").read_text().splitlines()[1:10_001]]
        task.predict(texts, batch_size=64)  # traced: the figure is the steady state
        started = time.perf_counter()
        task.postprocessor.prediction_rows(task.predict(texts, batch_size=64))
        seconds = time.perf_counter() - started
        data = {"rows": len(texts), "seconds": seconds, "rows_per_second": len(texts) / seconds,
                "peak_rss_mib": common.peak_rss_mib()}
    common.write_child_result(args, data)


def timed_cli(arguments):
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "tfbert.cli", *arguments],
                               capture_output=True, text=True)
    if completed.returncode:
        raise RuntimeError(completed.stderr[-2000:])
    return time.perf_counter() - started


def main():
    parser = common.parser(__doc__)
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--no-beam", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args)
    common.limit_threads(args.threads)
    import tempfile

    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="tfbert-batch-"))
    make_run(workdir, args.tiny)
    results = {"machine": common.machine(), "threads": args.threads, "labels": LABELS,
               "model": "random 2-layer" if args.tiny else common.CHECKPOINT, "sizes": []}
    print(common.machine_line(results["machine"], args.threads))
    for lines in args.lines:
        write_input(workdir / f"in-{lines}.tsv", lines)
        error = common.run_child([__file__, "--child", "predict", "--lines", str(lines),
                                  "--workdir", str(workdir), "--threads", str(args.threads)])
        if error:
            raise RuntimeError(f"tfbert predict on {lines} lines failed: {error}")
        figures = json.loads(common.child_json(workdir, "predict").read_text())
        results["sizes"].append(figures)
        print(f"tfbert predict, {lines:>9,} lines: {figures['rows_per_second']:7.1f} rows/s, "
              f"peak RSS {figures['peak_rss_mib']:.0f} MiB")
    smallest = min(args.lines)
    error = common.run_child([__file__, "--child", "in_memory", "--lines", str(smallest),
                              "--workdir", str(workdir), "--threads", str(args.threads)])
    if error:
        raise RuntimeError(f"the in-memory run failed: {error}")
    in_memory = json.loads(common.child_json(workdir, "in_memory").read_text())
    results["in_memory"] = in_memory
    largest = max(results["sizes"], key=lambda figures: figures["lines"])
    small = min(results["sizes"], key=lambda figures: figures["lines"])
    results["rss_difference_mib"] = largest["peak_rss_mib"] - small["peak_rss_mib"]
    results["throughput_ratio"] = largest["rows_per_second"] / in_memory["rows_per_second"]
    print(f"Task.predict in memory, {in_memory['rows']:,} texts: "
          f"{in_memory['rows_per_second']:.1f} rows/s")
    print(f"peak RSS {largest['lines']:,} lines - {small['lines']:,} lines: "
          f"{results['rss_difference_mib']:+.0f} MiB (target: at most 100)")
    print(f"rows/s streaming {largest['lines']:,} lines / in memory: "
          f"{results['throughput_ratio']:.3f} (target: within 10 %)")
    if not args.no_beam:
        source = workdir / f"in-{smallest}.tsv"
        one = timed_cli(["predict", str(workdir / "run"), "--input", str(source), "--output",
                         str(workdir / "one.jsonl"), "--quiet", "--force"])
        beam = timed_cli(["predict", str(workdir / "run"), "--input", str(source), "--output",
                          str(workdir / "beam" / "rows.jsonl"), "--runner", "DirectRunner",
                          "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
        results["beam"] = {"lines": smallest, "one_process_seconds": one, "beam_seconds": beam,
                           "beam_over_one_process": one / beam}
        print(f"{smallest:,} lines, wall time with start-up: tfbert predict {one:.1f} s, "
              f"Beam DirectRunner 2 workers {beam:.1f} s ({one / beam:.2f}x)")
    common.write_json(common.ROOT / "bench" / "results" / "batch_predict.json", results)


if __name__ == "__main__":
    main()
