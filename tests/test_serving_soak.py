"""A serving soak: thousands of requests of adversarial strings through an export, in TF
Serving's runtime as TF Serving runs it; no error, every output finite, and resident
memory grows by less than 5 KB per request (steady growth, below) and by less than
50 MB in all after the warm-up.

A tiny random classifier (its vocabulary holds CJK, Arabic, Hebrew, accented and emoji
pieces too, so that WordPiece does real work on them) is exported with TF 2.21; then
tests/serving_compat/soak.py, in the TF 2.20 + TF Text 2.20 environment
(`make serving-venv`; TFBERT_SERVING_PYTHON overrides it), loads it with the v1 loader
and sends it the requests described there: batches of 1 to 512 strings, empty, NUL
bytes, invalid UTF-8, right-to-left, stacked combining marks, emoji, CJK, random bytes,
and 1 MB strings in about one request in 200. The runtime has the environment the
exported serve.sh and docker-compose.yml give the CPU server (oneDNN off: see
tfbert/export/deployment.py for why).

Memory: soak.py reads the resident set size every 100 requests. Two bounds:
- steady growth: the median, over the 100-request intervals of the second half of
  the requests, of the growth per request is under 5 KB. A leak that grows with the
  requests grows every interval; the allocator's one-off steps (measured: +21 to
  +25 MB in one interval of 2,000 requests, flat before and after) move one interval
  and not the median. The second half, because memory the allocator already holds
  (freed by the 1 MB strings) hides a leak at first: measured with a leak of 28 KB per
  request, RSS stayed flat for the first ~1,000 requests, then grew 2.7-2.8 MB every
  interval (median 27.6 KB per request: caught); without a leak the median is 0 KB.
  A leak small enough for that held memory to absorb over the whole run (10 KB per
  request: 18 MB) leaves RSS as it is without one: no bound on RSS can see it.
- total growth after the warm-up under 50 MB, which catches one large step.

CI sends 2,000 requests. The full soak sends 20,000:

    TFBERT_SOAK_REQUESTS=20000 pytest -s tests/test_serving_soak.py   # prints its figures

TFBERT_SOAK_ENVIRONMENT='{"TF_ENABLE_ONEDNN_OPTS": "1"}' runs it in another server
environment; TFBERT_SOAK_RESULT=bench/results/soak.json appends the run's record there.
"""

import json
import os
import pathlib
import statistics
import subprocess

import pytest

from conftest import ROOT
from test_serving_compat import SERVING_PYTHON
from tfbert import BertTokenizer
from tfbert.export import deployment, export_for_serving
from tfbert.tasks import TextClassifier
from tiny_models import VOCAB, spread, tiny

SOAK = ROOT / "tests" / "serving_compat" / "soak.py"
REQUESTS = int(os.environ.get("TFBERT_SOAK_REQUESTS", "2000"))
SEED = int(os.environ.get("TFBERT_SOAK_SEED", "0"))
MAX_GROWTH_MB = 50
MAX_STEADY_GROWTH_KB = 5  # per request: the median of the intervals of the second half
# Pieces of the texts soak.py sends (tf-text's BERT normalizer lower-cases and strips
# accents, and splits CJK characters and punctuation into tokens of their own).
MORE_WORDS = ["高", "勇", "电", "影", "好", "こ", "の", "映", "画", "좋은", "영화", "שלום", "עולם",
              "هذا", "فيلم", "جيد", "😀", "👍", "e", "##s", "##ing", "##a", ".", ",", "!", "?",
              "[", "]", "cls", "sep", "x", "g", "##o", "##d"]


def steady_growth_kb(samples, start):
    """The median over the intervals between RSS samples ([request, MB] pairs) from
    request `start` on of the growth per request, in KB."""
    points = [(done, mb) for done, mb in samples if done >= start]
    rates = [(after - before) * 1024 / (end - begin)
             for (begin, before), (end, after) in zip(points, points[1:])]
    assert len(rates) >= 5, f"too few RSS samples after request {start} for a growth rate: {samples}"
    return statistics.median(rates)


def test_adversarial_soak_in_tf_serving_runtime(tmp_path):
    if not os.path.exists(SERVING_PYTHON):
        pytest.fail(f"{SERVING_PYTHON} is missing: run `make serving-venv` or set TFBERT_SERVING_PYTHON.")
    vocabulary = VOCAB + MORE_WORDS
    encoder, _ = tiny(vocab_size=len(vocabulary))
    task = spread(TextClassifier(encoder, BertTokenizer(vocabulary, max_length=64),
                                 ["negative", "neutral", "positive"]))
    export_dir = export_for_serving(task, tmp_path / "models", "soak", deployment_files=False)

    # The server's environment as serve.sh / docker-compose.yml set it for the CPU.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(deployment.CPU_SERVER_ENVIRONMENT)
    env.update(json.loads(os.environ.get("TFBERT_SOAK_ENVIRONMENT", "{}")))  # to compare others
    finished = subprocess.run([SERVING_PYTHON, str(SOAK), str(export_dir), str(REQUESTS), str(SEED),
                               str(tmp_path / "soak.json")], capture_output=True, text=True,
                              env=env, timeout=3600)
    assert finished.returncode == 0, finished.stderr[-4000:]
    result = json.loads((tmp_path / "soak.json").read_text())
    half = max(result["warmup_requests"], REQUESTS // 2)
    steady = steady_growth_kb(result["rss_mb"], start=half)
    print(f"\nsoak: {result['requests']} requests, {result['rows']} rows in {result['seconds']} s; "
          f"{result['huge_strings_sent']} strings of 1 MB; RSS after the warm-up "
          f"({result['warmup_requests']} requests) {result['rss_after_warmup_mb']} MB, at the end "
          f"{result['rss_end_mb']} MB (most {result['rss_max_after_warmup_mb']} MB): "
          f"growth {result['growth_mb']} MB, steady growth {steady:.1f} KB per request (median "
          f"after request {half}); errors {result['error_count']}")

    if os.environ.get("TFBERT_SOAK_RESULT"):  # a record of the run, for bench/results
        flags = sorted({flag for line in open("/proc/cpuinfo") if line.startswith("flags")
                        for flag in line.split(":")[1].split() if flag.startswith(("avx", "amx", "fma"))})
        record = {"command": f"TFBERT_SOAK_REQUESTS={REQUESTS} pytest -s tests/test_serving_soak.py",
                  "server_environment": {k: env[k] for k in sorted(env) if k.startswith(("TF_ENABLE", "TF_CPP"))},
                  "cpu_flags": flags, **{k: v for k, v in result.items() if k != "rss_mb"},
                  "rss_mb_every_1000": result["rss_mb"][::10]}
        path = pathlib.Path(os.environ["TFBERT_SOAK_RESULT"])
        rows = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(rows + [record], indent=1) + "\n")

    assert result["tensorflow"].startswith("2.20.") and result["tensorflow_text"].startswith("2.20.")
    assert result["imported"] == []
    assert result["error_count"] == 0, result["errors"]
    assert result["requests"] == REQUESTS and result["largest_batch"] == 512
    assert result["huge_strings_sent"] >= 8  # every 1 MB string, at least in the warm-up
    assert steady < MAX_STEADY_GROWTH_KB, (f"RSS grows {steady:.1f} KB per request "
                                           f"(median of 100-request intervals): {result['rss_mb']}")
    assert result["growth_mb"] < MAX_GROWTH_MB, result["rss_mb"]
