"""Helpers shared by the benchmark parts (stdlib only: importing this loads no framework).

Each part runs in its own process, so a helper here must not import TensorFlow or
torch at module level: the serving part measures the peak memory of processes that
import only what a deployment would.
"""

import datetime
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys

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


def checkpoint_dir():
    # Imported here: tfbert imports TensorFlow, which a torch-only child must not load.
    from tfbert.pretrained import resolve_checkpoint_dir

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


def write_json(path, data):
    if path:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(path).write_text(json.dumps(data, indent=2) + "\n")
