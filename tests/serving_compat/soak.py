"""Soaks an export with adversarial strings the way TensorFlow Serving runs it.

    .venv-tf220/bin/python tests/serving_compat/soak.py EXPORT_DIR REQUESTS SEED RESULT.json

Meant for the virtual environment with only tensorflow==2.20.* and tensorflow-text==2.20.*
(TF Serving's runtime; see run_signatures.py): it imports neither tfbert nor keras. It
loads EXPORT_DIR with the v1 loader in one Session, as TF Serving does, and sends
REQUESTS requests to its serving_default signature, feeding and fetching tensors by
their SignatureDef names. Each request is a batch of 1 to 512 strings (sizes drawn
log-uniformly, seeded: mostly small batches, as real traffic) mixing every kind of
awkward text: empty strings, NUL bytes, invalid UTF-8, right-to-left text with bidi
controls, stacked combining marks, emoji sequences, CJK, control and zero-width
characters, BERT's own special tokens, words longer than the tokenizer takes, random
bytes and random code points; about one request in 200 carries a 1 MB string.

The first requests are the warm-up: every string of the pool, every 1 MB string, the
largest batch, then random requests up to a tenth of the run (at least 200). The
resident set size (VmRSS of /proc/self/status) is read after the warm-up, every 100
requests and at the end.

RESULT.json: {"requests", "rows", "seconds", "warmup_requests", "rss_mb": [[request,
MB], ...], "rss_after_warmup_mb", "rss_end_mb", "rss_max_after_warmup_mb",
"growth_mb", "huge_strings_sent", "largest_batch", "errors": [first 20],
"error_count", "tensorflow", "tensorflow_text", "imported"}; an error is an exception
of session.run, an output whose first dimension is not the batch's, a float output
that is not finite, or a string output that is not UTF-8.
"""

import json
import math
import random
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers TF Text's ops, as TF Serving links them)

MB = 1 << 20
RLM, LRM, RLO, PDF, RLI, PDI = "\u200f", "\u200e", "\u202e", "\u202c", "\u2067", "\u2069"


def text_pool():
    """Awkward strings (bytes), every kind the soak sends, at most a few kB each."""
    texts = [
        "", " ", " " * 1000, "\u3000" * 100, "\t\n\r\x0b\x0c",
        "\x00", "good\x00movie", "\x00" * 1000, "[CLS]\x00[SEP]", "bad\x00",
        f"{RLM}מה שלומך{LRM} good movie", f"{RLO}evom doog{PDF}", f"هذا فيلم جيد {RLM}٣٤٥{LRM}",
        f"{RLI}שלום עולם{PDI} the film was {RLO}not{PDF} bad", "ﷺ ﷽ لا", f"{RLO * 100}x{PDF * 100}",
        "e" + "\u0301" * 500, "".join(c + "\u0300\u0316\u0350\u0361" * 20 for c in "good movie"),
        "\u0e01\u0e34\u0e4a\u0e4a\u0e4a\u0e4a", "a" + "\u20dd" * 300, "\u0301" * 200,
        "😀" * 100, "👨\u200d👩\u200d👧\u200d👦 great", "🇺🇸🇯🇵🏴\U000e0067\U000e0062\U000e007f", "👍🏽 1️⃣ ❤️‍🔥",
        "高勇 这部电影很好", "この映画は素晴らしい", "좋은 영화", "𠀀𠀁𠀂 \U0002a6d6", "ｇｏｏｄ　ｍｏｖｉｅ",
        "\x1b[31mred\x1b[0m", "\ufeffBOM first", "\ufffe\uffff \U0010ffff", "line\u2028sep\u2029para",
        "zero\u200bwidth\u200c\u200djoin\u2060", "good\u00admovie", "\x7f\x85\x9f",
        "[CLS] [SEP] [PAD] [MASK] [UNK]", "##ing ##s ##", "[SEP]" * 200, "[UNK][UNK]",
        "a" * 10000, "good" * 2500, "the " * 2000, "!" * 5000, "good.movie,the;plot:was" * 100,
        "İstanbul ǅ ß ﬁ ẞ Ω ǰ", "Ⅻ ½ ² ㎏ ℡", "\U0001d573\U0001d58a\U0001d58a\U0001d589",
    ]
    raw = [t.encode("utf-8") for t in texts] + [
        b"\xff\xfe broken", b"caf\xc3", b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong",
        b"\xf4\x90\x80\x80 beyond U+10FFFF", b"\x80\x80\x80", b"good \xe2\x82 movie", b"\xfe" * 500,
        "lone \ud800 surrogate".encode("utf-8", "surrogatepass"), b"\xef\xbb\xbf\xef\xbb\xbf",
        b"\xf0\x9f\x98", b"\xe4\xbd\xa0\xe5", bytes(range(256)),
    ]
    return raw


def huge_strings():
    """1 MB strings: words, one word, combining marks, NULs, invalid bytes, emoji, RTL."""
    words = ("good movie the plot was not bad " * (MB // 32 + 1)).encode()[:MB]
    return [
        words, b"a" * MB, ("e" + "\u0301" * 15).encode() * (MB // 31), b"\x00" * MB,
        random.Random(0).randbytes(MB), "😀".encode() * (MB // 4),
        (RLO + "שלום עולם " + PDF).encode() * (MB // 25), b"\xff" * MB,
    ]


FRAGMENTS = ["good", "movie", "the", "bad", "film", " ", "  ", "\t", "\x00", "\u0301", "\u0301" * 30,
             RLM, LRM, RLO, PDF, "שלום", "جيد", "高", "勇", "电影", "😀", "\u200d", "👍🏽", "[CLS]",
             "[SEP]", "##s", ".", ",", "!?", "é", "e\u0301", "ß", "\ufeff", "\u200b", "\n"]


def random_text(rng, pool):
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(pool)
    if kind < 0.8:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40))).encode()
    if kind < 0.9:
        return rng.randbytes(rng.randint(0, 300))
    # Random code points of every plane, lone surrogates included (CESU bytes: invalid).
    points = [rng.choice((rng.randint(0, 0x7f), rng.randint(0x80, 0xffff), rng.randint(0x10000, 0x10ffff)))
              for _ in range(rng.randint(1, 60))]
    return "".join(map(chr, points)).encode("utf-8", "surrogatepass")


def batch_size(rng):
    return min(512, int(math.exp(rng.uniform(0.0, math.log(513)))))


def requests(count, seed):
    """(the warm-up's length, a generator of requests: lists of bytes)."""
    rng = random.Random(seed)
    pool, huge = text_pool(), huge_strings()
    fixed = [pool, [b""], *([text] for text in huge), [rng.choice(pool) for _ in range(506)] + huge[:6],
             [random_text(rng, pool) for _ in range(512)]]
    warmup = min(count, max(200, count // 10, len(fixed)))

    def generate():
        yield from fixed[:count]
        for _ in range(count - len(fixed)):
            batch = [random_text(rng, pool) for _ in range(batch_size(rng))]
            if rng.random() < 1 / 200:
                batch[rng.randrange(len(batch))] = rng.choice(huge)
            yield batch
    return warmup, generate()


def resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def check(outputs, rows):
    """What is wrong with one response, or None."""
    for key, value in outputs.items():
        value = np.asarray(value)
        if value.shape[:1] != (rows,):
            return f"{key}: shape {value.shape} for {rows} rows"
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return f"{key}: {int((~np.isfinite(value)).sum())} values not finite"
        if value.dtype == object:
            try:
                [item.decode("utf-8") for item in value.ravel()]
            except (UnicodeDecodeError, AttributeError) as error:
                return f"{key}: {error}"
    return None


def main(export_dir, count, seed, result_path):
    count, seed = int(count), int(seed)
    warmup, stream = requests(count, seed)
    errors, error_count, rows, huge_sent, largest = [], 0, 0, 0, 0
    samples = []
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        signature = meta_graph.signature_def["serving_default"]
        feed_name = signature.inputs["text"].name
        fetch = {key: info.name for key, info in signature.outputs.items()}
        started = time.monotonic()
        for index, batch in enumerate(stream):
            rows += len(batch)
            largest = max(largest, len(batch))
            huge_sent += sum(len(text) >= MB // 2 for text in batch)
            try:
                problem = check(session.run(fetch, {feed_name: np.array(batch, dtype=object)}), len(batch))
            except Exception as error:  # noqa: BLE001  (any failure is a finding; keep going)
                problem = f"{type(error).__name__}: {str(error)[:300]}"
            if problem:
                error_count += 1
                if len(errors) < 20:
                    errors.append({"request": index, "rows": len(batch), "problem": problem,
                                   "first_texts": [repr(t[:60]) for t in batch[:3]]})
            if index + 1 == warmup or (index + 1) % 100 == 0 or index + 1 == count:
                samples.append([index + 1, round(resident_mb(), 1)])
        seconds = time.monotonic() - started
    after_warmup = next(mb for done, mb in samples if done == warmup)
    result = {
        "requests": count, "rows": rows, "seconds": round(seconds, 1), "warmup_requests": warmup,
        "rss_mb": samples, "rss_after_warmup_mb": after_warmup, "rss_end_mb": samples[-1][1],
        "rss_max_after_warmup_mb": max(mb for done, mb in samples if done >= warmup),
        "growth_mb": round(samples[-1][1] - after_warmup, 1),
        "huge_strings_sent": huge_sent, "largest_batch": largest,
        "errors": errors, "error_count": error_count,
        "tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
        "imported": sorted(name for name in ("tfbert",) if name in sys.modules),
    }
    with open(result_path, "w") as file:
        json.dump(result, file, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
