"""Tables computed from the whole of Unicode, kept on disk between processes.

The tokenizer needs two tables that take a scan of all 1.1 M code points in Python:
the character classes of BERT's text cleaning (`tfbert.text.tokenizer`) and the letters
whose lowercasing TensorFlow and Python disagree on (`tfbert.text.lowercase_skew`).
Computing them costs ~0.9 s in every process that builds a tokenizer (`tfbert embed`,
`predict`, `train`, an export): an eighth of a fresh process's first call embedding
4,000 sentences (7.45 -> 6.51 s; bench/RESULTS.md, "Sentence vectors"). They depend only on Python's Unicode data and TensorFlow's
built-in ICU, so they are computed once per (Unicode version, TensorFlow version,
source of the module that computes them: an edit to it is a new table) and read back
after that, from $TFBERT_CACHE_DIR (default: $XDG_CACHE_HOME/tfbert,
else ~/.cache/tfbert).

A missing, unreadable or malformed file is computed again and rewritten; a cache
directory that cannot be written costs only the computing. Files are replaced whole
(`atomic_files`), so processes that fill the cache at once do not read half a file.
"""

import hashlib
import json
import logging
import os
import pathlib
import sys
import unicodedata

import tensorflow as tf

from tfbert.io.atomic_files import write_atomically

logger = logging.getLogger(__name__)


def cache_directory():
    if os.environ.get("TFBERT_CACHE_DIR"):
        return pathlib.Path(os.environ["TFBERT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "tfbert"


def cached_table(name, compute, is_valid):
    """`compute()`'s JSON value, from the cache when a valid one is there.

    `is_valid(value)` checks what was read (a file cut short or edited by hand is
    computed again rather than trusted)."""
    source = pathlib.Path(sys.modules[compute.__module__].__file__).read_bytes()
    path = cache_directory() / (f"{name}-{hashlib.sha256(source).hexdigest()[:12]}"
                                f"-unicode{unicodedata.unidata_version}"
                                f"-max{sys.maxunicode:x}-tf{tf.__version__}.json")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        if is_valid(value):
            return value
        logger.warning("Recomputing %s: %s does not hold a valid table", name, path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as error:
        logger.warning("Recomputing %s: could not read %s (%s)", name, path, error)
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(value))
    except OSError as error:
        logger.info("Not caching %s in %s (%s): it is computed in each process", name, path, error)
    return value
