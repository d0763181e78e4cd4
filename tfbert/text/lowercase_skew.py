"""Where TensorFlow's lowercasing and Python's part ways, and how the tokenizer closes it.

The reference tokenizer lowercases with Python's `str.lower()` (Unicode 14 on Python
3.11); TensorFlow's `tf.strings.lower` uses the ICU built into it, whose Unicode is
older. For the ~300 letters and marks assigned in between, ICU knows neither that they
are letters nor that they are case-ignorable, and that matters beyond the letters
themselves through Greek final sigma: "Σ" lowercases to "ς" at the end of a word and to
"σ" elsewhere, where "end" is decided by skipping case-ignorable characters and looking
for a cased letter. Python reads "ΑΣ\\u1ac1Σ" as two non-final sigmas ("ασσ"), ICU as a
final one ("ας" + "σ"): different WordPiece ids. tests/test_tokenizer_fuzz.py found it.

The fix is a stand-in: before lowercasing, each such character is replaced by one that
ICU knows and that plays the same part in every later step (it sets the final-sigma
context as Python reads the original; it is dropped by accent stripping if and only if
the original is; a letter or mark, one code point, no decomposition) and that is in no
vocabulary token, as the original is not. A word holding the original
cannot be pieced and is `[UNK]`; so is a word holding the stand-in. Characters of
vocabulary tokens are never replaced.

The skew is found by asking both sides, not from a list: a batch of probe strings per
character ("Α" + c + "Σ", c + "Σ", c) lowercased by Python and by TensorFlow.
"""

import functools
import sys
import unicodedata

import tensorflow as tf

from tfbert.text.unicode_cache import cached_table

_SIGMA = "\u03a3"


def _probes(char):
    # ("Α" c "Σ"): final iff c is cased or case-ignorable; (c "Σ"): final iff c is cased
    # and not case-ignorable; (c): c's own lowercase.
    return ["\u0391" + char + _SIGMA, char + _SIGMA, char]


@functools.cache
def _skewed_code_points():
    """`_scan_skewed_code_points()`, computed once per Unicode and TensorFlow version
    (`unicode_cache`)."""
    return frozenset(cached_table(
        "lowercase_skew", lambda: sorted(_scan_skewed_code_points()),
        lambda value: isinstance(value, list) and all(
            isinstance(cp, int) and 0 <= cp <= sys.maxunicode for cp in value)))


def _scan_skewed_code_points():
    """The code points whose probes Python and TensorFlow lowercase differently (~0.5 s)."""
    code_points = [cp for cp in range(sys.maxunicode + 1)
                   if not unicodedata.category(chr(cp)).startswith("C") and cp != ord(_SIGMA)]
    probes = [probe for cp in code_points for probe in _probes(chr(cp))]
    python = [probe.lower() for probe in probes]
    lowered = tf.strings.lower(tf.constant([p.encode("utf-8", "surrogatepass") for p in probes]),
                               encoding="utf-8").numpy()
    return frozenset(
        cp for i, cp in enumerate(code_points)
        if any(lowered[3 * i + k].decode("utf-8", "replace") != python[3 * i + k] for k in range(3))
    )


def _part(char):
    """What a character does in the tokenizer's later steps that a stand-in must also do:
    how it sets the final-sigma context (Python's view), and whether accent stripping
    drops it (category Mn)."""
    return (("\u0391" + char + _SIGMA).lower()[-1], (char + _SIGMA).lower()[-1],
            unicodedata.category(char) == "Mn")


def _can_stand_in(char, part, skewed, in_vocabulary):
    category = unicodedata.category(char)
    return (ord(char) not in skewed and category[0] not in "CPZ" and not "\u3400" <= char <= "\u9fff"
            and not "\uf900" <= char <= "\ufaff" and not unicodedata.decomposition(char)
            and len(char.lower()) == 1 and not {char, char.lower(), char.upper()} & in_vocabulary
            and _part(char) == part)


def lowercase_stand_ins(vocabulary):
    """[(code points, stand-in)]: replace each code point of the list by the stand-in
    before `tf.strings.lower`, and the result lowercases to what Python's gives, id for
    id. Empty when TensorFlow's ICU and Python's Unicode agree."""
    in_vocabulary = set()
    for token in vocabulary:
        in_vocabulary.update(token)
    skewed = _skewed_code_points()
    by_part = {}
    for cp in skewed:
        char = chr(cp)
        if {char, char.lower()} & in_vocabulary:
            continue  # the vocabulary knows it: a stand-in would change ids
        by_part.setdefault(_part(char), []).append(cp)
    stand_ins = []
    for part, code_points in sorted(by_part.items()):
        stand_in = next((chr(cp) for cp in range(0x80, 0x10000)
                         if _can_stand_in(chr(cp), part, skewed, in_vocabulary)), None)
        if stand_in is not None:
            stand_ins.append((code_points, stand_in))
    return stand_ins
