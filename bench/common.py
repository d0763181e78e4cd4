"""Helpers shared by the benchmark parts (stdlib only: importing this loads no framework).

Each part runs in its own process, so a helper here must not import TensorFlow or
torch at module level: the serving part measures the peak memory of processes that
import only what a deployment would.

The child-process protocol every part script follows lives here too. A script is
both the parent and its children: the parent (`Children`) runs each measurement step
as `python SCRIPT --child STEP --workdir DIR [--checkpoint-dir D] [options]` in a
fresh interpreter; the child (`args.child` set) does the one step and writes its
figures to `child_json(DIR, STEP)` (`write_child_result`), which the parent reads
back. A step that fails is recorded with the last line of its stderr, and the others
still run.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CHECKPOINT = "all-minilm-l6-v2"


def sst2_column(split, name, count=None):
    """One column of ../shared/data/sst2/<split>.tsv, read in place.

    GLUE's TSVs are unquoted, so a plain tab split is the right parse (csv would
    treat a leading quote in a sentence as quoting)."""
    lines = (DATA / "sst2" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
    column = lines[0].split("\t").index(name)
    values = [line.split("\t")[column].strip() for line in lines[1:] if line.strip()]
    return values if count is None else values[:count]


def sst2_sentences(split, count=None):
    return sst2_column(split, "sentence", count)


def limit_threads(threads):
    """Thread caps that must be in the environment before a framework is imported:
    OpenMP/MKL (torch, oneDNN) and Rayon (Hugging Face tokenizers)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[name] = str(threads)
    # Without this, tokenizers turns its own parallelism off once the process forks.
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf_threads(tf, threads):
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def float32_exact_gelu(x):
    """BERT's erf GELU computed in float32 and cast back: tfbert's inference GELU before
    2026-12-05, whose cast keeps oneDNN from fusing it into its matmul under bf16. The
    benches' A/B rows patch it in to measure that lever."""
    from keras import ops

    from tfbert.layers.transformer_block import _in_float32

    return _in_float32(lambda v: ops.gelu(v, approximate=False), x)


def checkpoint_dir():
    # Imported here: tfbert imports TensorFlow, which a torch-only child must not load.
    from tfbert.models.pretrained import resolve_checkpoint_dir

    return str(resolve_checkpoint_dir(CHECKPOINT))


def checkpoint_dir_in_child():
    """checkpoint_dir(), resolved in a throwaway interpreter.

    For a parent that only launches children: resolving imports tfbert, hence
    TensorFlow, which such a parent need not load. The parent passes the directory
    on to its children, so a torch-only child never imports tfbert either."""
    code = "import common; print(common.checkpoint_dir())"
    done = subprocess.run([sys.executable, "-c", code], cwd=pathlib.Path(__file__).parent,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def run_child(command):
    """Runs one measurement in a fresh interpreter; returns None or the error text.

    Each (framework, precision) gets its own process: torch and TensorFlow in one
    process fight over their OpenMP/Eigen thread pools and slow whatever runs later,
    and peak memory is then the child's own. The child's stdout streams through (its
    progress lines); stderr, where TensorFlow's start-up chatter goes, is kept and only
    its last line is reported, on failure."""
    done = subprocess.run([sys.executable, *map(str, command)], stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {done.returncode}"
    return None


def parser(doc, quick_help=None):
    """An argument parser with the options every part script shares: --threads, --json,
    --quick where the script has a smoke-run setting, and the hidden options of the
    child protocol (--child STEP, --workdir DIR, --checkpoint-dir D)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    if quick_help:
        parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    for hidden in ("--child", "--workdir", "--checkpoint-dir"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    return parser


def flags(args, *names):
    """The command-line flags that pass these options of `args` on to a child:
    a list as its items, True as the bare flag, False and None left out."""
    out = []
    for name in names:
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out += [flag] if value else []
        elif isinstance(value, (list, tuple)):
            out += [flag, *value]
        elif value is not None:
            out += [flag, value]
    return out


def child_json(workdir, step):
    """Where the child that ran `step` leaves its figures."""
    return pathlib.Path(workdir) / f"{step.replace(' ', '_')}.json"


def write_child_result(args, data):
    """In a child: its figures, for the parent to read back."""
    write_json(child_json(args.workdir, args.child), data)


class Children:
    """The parent's side of the child protocol.

        with common.Children(__file__, common.flags(args, "threads"), checkpoint=True) as children:
            results, notes = children.run_all(steps)

    A scratch directory (`workdir`) for the run; with checkpoint=True the MiniLM
    directory is resolved once, in a throwaway interpreter, and passed to every child
    as --checkpoint-dir (so a torch-only child never imports tfbert, hence TensorFlow)."""

    def __init__(self, script, flags=(), checkpoint=False):
        self.script, self.flags, self.checkpoint = script, list(flags), checkpoint
        self.checkpoint_dir = None

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix=f"tfbert-{pathlib.Path(self.script).stem}-")
        self.workdir = pathlib.Path(self._tmp.name)
        if self.checkpoint:
            self.checkpoint_dir = checkpoint_dir_in_child()
        return self

    def __exit__(self, *exc_info):
        self._tmp.cleanup()

    def run(self, step):
        """Runs one step in a fresh interpreter; returns None or the error text."""
        print(f"running {step} ...", flush=True)
        command = [self.script, "--child", step, "--workdir", self.workdir]
        if self.checkpoint_dir:
            command += ["--checkpoint-dir", self.checkpoint_dir]
        return run_child(command + self.flags)

    def result(self, step):
        return json.loads(child_json(self.workdir, step).read_text())

    def run_all(self, steps):
        """Each step in turn: ({step: the JSON it wrote}, {step: "failed: <error>"})."""
        results, notes = {}, {}
        for step in steps:
            error = self.run(step)
            if error:
                notes[step] = f"failed: {error}"
            else:
                results[step] = self.result(step)
        return results, notes


def config_text(config):
    """A row's configuration on one line, as the tables print it beside the row."""
    return "; ".join(f"{key.replace('_', ' ')} {value}" for key, value in config.items())


def peak_rss_mib():
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def median(values):
    return statistics.median(values)


def machine():
    """What the figures depend on: date, CPU model and whether it has the bf16 units."""
    flags, model = set(), platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model.strip():
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "avx512": any(flag.startswith("avx512") for flag in flags),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": any(flag.startswith("amx") for flag in flags),
    }


def machine_line(machine, threads):
    """The CPU a run's figures were taken on, as every part script prints it."""
    return (f"CPU: {machine['cpu_model']}, {machine['cpu_count']} cores, {threads} threads per "
            "child; " + ", ".join(f"{k} {machine[k]}" for k in ("avx512", "avx512_bf16", "amx")))


def write_json(path, data):
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(data, indent=2) + "\n")
