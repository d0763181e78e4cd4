"""Tokenizer fuzzing: tfbert's BertTokenizer against the Python reference on generated text.

The reference is the one the parity fixtures come from (tools/make_tokenizer_fixture.py):
transformers' BertTokenizerLegacy on the all-MiniLM-L6-v2 vocabulary (uncased),
`_tokenize(text, split_special_tokens=True)` then `convert_tokens_to_ids`, so a literal
"[CLS]" in the text is plain text on both sides.

`hypothesis` generates 10,000 strings (derandomized, so CI runs the same strings every
time; tokenized in batches of 100) from every Unicode general category, stacked combining
marks, control and zero-width characters, CJK, emoji sequences, many scripts mixed, runs
of whitespace, very long words and texts far longer than max_length. Each example is
tokenized by tfbert in one batch and compared with the reference string by string: the
ids without truncation (`tokenize`); then each batch is packed as single texts at
max_length 512 and as pairs at max_length 64 (every text first, the next one second),
and the whole packed output is compared with the reference's packing padded to the
batch's longest row: input_ids (pad_id on padding), segment_ids, input_mask, and the
batch's width.

Strings that ever made the two differ are kept in
tests/fixtures/tokenizer_fuzz_regressions.json and checked by the regression test below.
A failure of the fuzz test prints its strings as JSON, ready to be added there.
"""

import itertools
import json
import pathlib
import string
import unicodedata

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
import transformers
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

from tfbert.models.pretrained import resolve_checkpoint_dir
from tfbert.text.tokenizer import BertTokenizer

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
REGRESSIONS = FIXTURES / "tokenizer_fuzz_regressions.json"
CHECKPOINT = "all-minilm-l6-v2"

STRINGS = 10_000
BATCH = 100  # strings tokenized together
PAIR_MAX_LENGTH = 64


# --- The reference and tfbert ----------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    transformers.logging.set_verbosity_error()  # its notes on pair truncation, per call
    vocab_file = resolve_checkpoint_dir(CHECKPOINT) / "vocab.txt"
    tokenizer = BertTokenizerLegacy(vocab_file=str(vocab_file), do_lower_case=True)
    tokenizer.ids = lambda text: tokenizer.convert_tokens_to_ids(
        tokenizer._tokenize(text, split_special_tokens=True)
    )
    return tokenizer


@pytest.fixture(scope="module")
def minilm():
    return BertTokenizer.from_pretrained(CHECKPOINT)


@pytest.fixture(scope="module")
def minilm_short(minilm):
    return BertTokenizer(minilm.vocabulary, max_length=PAIR_MAX_LENGTH)


def utf8(texts):
    """What tfbert is given. A lone surrogate (category Cs) has no UTF-8 form;
    "surrogatepass" writes the bytes it would have, which are invalid UTF-8 that the
    tokenizer replaces by U+FFFD and deletes, as the reference deletes Cs."""
    return [text.encode("utf-8", "surrogatepass") for text in texts]


def compare(texts, reference, minilm, minilm_short):
    """Every difference between tfbert and the reference on `texts`, as readable lines."""
    expected = [reference.ids(text) for text in texts]
    tokens = minilm.tokenize(utf8(texts))
    actual = tokens.to_list()
    problems = []
    for text, want, got in zip(texts, expected, actual):
        if want != got:
            problems.append(
                f"{text!r}\n    reference: {reference.convert_ids_to_tokens(want)[:40]}"
                f"\n    tfbert:    {reference.convert_ids_to_tokens(got)[:40]}"
            )
    if problems:
        return problems
    # Packing and truncation of the same ids, the whole padded batch compared: single
    # texts at 512, and pairs at 64, each text first with the next one second.
    following = [(row + 1) % len(texts) for row in range(len(texts))]
    checks = [
        ("single", minilm.pack(tokens), [(ids, None) for ids in expected], minilm),
        ("pairs", minilm_short.pack(tokens, tf.gather(tokens, following)),
         [(expected[row], expected[next_row]) for row, next_row in enumerate(following)], minilm_short),
    ]
    for name, packed, cases, tokenizer in checks:
        want = reference_packed(reference, cases, tokenizer.max_length)
        for key, value in want.items():
            got = packed[key].numpy().tolist()
            if len(got) != len(value) or {len(row) for row in got} != {len(value[0])}:
                problems.append(f"{name} at max_length {tokenizer.max_length}: {key} is "
                                f"{packed[key].shape}, not [{len(value)}, {len(value[0])}]")
                continue
            for row, (got_row, want_row) in enumerate(zip(got, value)):
                if got_row != want_row:
                    problems.append(f"{name} at max_length {tokenizer.max_length}, row {row}: {key} "
                                    f"{got_row[:40]} != {want_row[:40]} ({texts[row]!r})")
    return problems


def reference_packed(reference, cases, max_length):
    """The reference's packing and longest_first truncation of [(ids, ids or None)],
    padded as one batch to its longest row (with the reference's [PAD] id):
    {input_ids, segment_ids, input_mask}."""
    pad_id = reference.pad_token_id
    rows = [reference.prepare_for_model(a, b, truncation="longest_first", max_length=max_length,
                                        return_token_type_ids=True) for a, b in cases]
    width = max(len(row["input_ids"]) for row in rows)
    padding = [width - len(row["input_ids"]) for row in rows]
    return {
        "input_ids": [row["input_ids"] + [pad_id] * pad for row, pad in zip(rows, padding)],
        "segment_ids": [row["token_type_ids"] + [0] * pad for row, pad in zip(rows, padding)],
        "input_mask": [[1] * len(row["input_ids"]) + [0] * pad for row, pad in zip(rows, padding)],
    }


# --- What the strings are made of -----------------------------------------------------

CATEGORIES = (
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
    "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn",
)  # every general category, each as likely as the others
any_character = st.one_of([st.characters(categories=[category]) for category in CATEGORIES])


def from_ranges(*ranges):
    return st.one_of([st.characters(min_codepoint=first, max_codepoint=last) for first, last in ranges])


CONTROL = [chr(cp) for cp in itertools.chain(range(0x20), range(0x7F, 0xA0))]
# Zero-width and other format characters (Cf, deleted), variation selectors (Mn).
INVISIBLE = list("\u200b\u200c\u200d\ufeff\u2060\u00ad\u200e\u200f\u202a\u202c\u202e\u2061\u2064\u180e"
                 "\u061c\ufe0e\ufe0f\U000e0001\U000e0067\U000e007f\U000e0100")
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" \
             "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
SPECIAL_TEXT = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", "[ CLS ]", "##", "##ing", "[unused0]",
                "<s>", "</s>"]
# Characters whose lowercase, decomposition or case context is unusual.
ODD_CASES = list("İıIiẞßǅǈǋǲǄKΩÅŉﬀﬁﬆΐΰᾼᾈͅϴϹϷẞⅫⅻⒶⓐ𝐀𝔄ꭰᎠᲐაⰀⰿⱟꟀꟁ𐕰𐖗𐐀𐓀𞤀Ꙋᲈ")
SIGMA_CONTEXT = "ΣσςΑΟΔαο'.·:\u0387\u2019\u00ad\u0301\u0345\u0308ΆΈ- " + "\u2c2f\u2c5f\U00010570\u0898\u1ac1"

CJK = from_ranges(
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2CEAF), (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F), (0x3000, 0x303F), (0x3040, 0x30FF), (0xFF00, 0xFFEF), (0xAC00, 0xD7A3),
    (0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3100, 0x33FF), (0x30000, 0x3134F),
)
SCRIPTS = from_ranges(
    (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF),  # Latin
    (0x370, 0x3FF), (0x1F00, 0x1FFF),  # Greek
    (0x400, 0x52F), (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x750, 0x77F), (0x870, 0x8FF),
    (0x900, 0x97F), (0x980, 0x9FF), (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1C80, 0x1CBF), (0x13A0, 0x13FF),
    (0xAB70, 0xABBF), (0x2C00, 0x2C7F), (0xA640, 0xA69F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F),
    (0x10400, 0x1044F), (0x104B0, 0x104FF), (0x10570, 0x105BF), (0x10780, 0x107BF), (0x10C80, 0x10CFF),
    (0x118A0, 0x118FF), (0x16E40, 0x16E9F), (0x1DF00, 0x1DFFF), (0x1E900, 0x1E95F), (0x1D400, 0x1D7FF),
)
MARKS = st.characters(categories=["Mn", "Mc", "Me"])
EMOJI = from_ranges((0x1F300, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
                    (0x2600, 0x27BF), (0x2190, 0x21FF), (0x2B00, 0x2BFF))
SKIN_TONE = st.characters(min_codepoint=0x1F3FB, max_codepoint=0x1F3FF)
REGIONAL = st.characters(min_codepoint=0x1F1E6, max_codepoint=0x1F1FF)
PUNCTUATION = string.punctuation + "…‽¡¿«»“”‘’‚„—–‐‒―·・、。，！？：；（）【】「」《》〈〉※†‡§¶⁂"


def vocabulary_words():
    vocabulary = (resolve_checkpoint_dir(CHECKPOINT) / "vocab.txt").read_text(encoding="utf-8").split("\n")
    words = [token for token in vocabulary if token and not token.startswith(("[", "##"))]
    suffixes = [token[2:] for token in vocabulary if token.startswith("##")]
    return words, suffixes


# Made once: a strategy over a 30,000-word list computes its label from the whole list,
# which made per draw was a third of this file's time.
WORD, SUFFIX = (st.sampled_from(tokens) for tokens in vocabulary_words())
CASING = st.sampled_from([str, str, str.upper, str.title, str.capitalize])


@st.composite
def vocabulary_word(draw):
    """A word WordPiece can piece: a vocabulary word and suffixes, in some casing."""
    word = draw(WORD) + "".join(draw(st.lists(SUFFIX, max_size=3)))
    return draw(CASING)(word)


@st.composite
def combining_stack(draw):
    base = draw(st.one_of(st.sampled_from(string.ascii_letters), SCRIPTS, any_character))
    return base + "".join(draw(st.lists(st.one_of(MARKS, from_ranges((0x300, 0x36F))), min_size=1, max_size=8)))


@st.composite
def emoji(draw):
    kind = draw(st.integers(0, 4))
    if kind == 0:  # an emoji, maybe with a skin tone and a variation selector
        return draw(EMOJI) + draw(st.sampled_from(["", "\ufe0f"])) + draw(st.one_of(st.just(""), SKIN_TONE))
    if kind == 1:  # a ZWJ sequence
        parts = draw(st.lists(st.tuples(EMOJI, st.one_of(st.just(""), SKIN_TONE)), min_size=2, max_size=4))
        return "\u200d".join(e + tone + "\ufe0f" * draw(st.booleans()) for e, tone in parts)
    if kind == 2:  # a flag
        return draw(REGIONAL) + draw(REGIONAL)
    if kind == 3:  # a keycap
        return draw(st.sampled_from("0123456789#*")) + "\ufe0f\u20e3"
    # a tag sequence: black flag, tag letters, cancel tag
    tags = draw(st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=5))
    return "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in tags) + "\U000e007f"


@st.composite
def long_word(draw):
    """Words around and beyond WordPiece's 100-character limit, counted after lowercasing,
    NFC, accent stripping and NFD (Hangul syllables become 2-3 jamo)."""
    unit = draw(st.one_of(
        st.sampled_from(["a", "ab", "é", "e\u0301", "İ", "ß", "한", "ﬀ", "ก", "ж", "😀", "x\u0308\u0323", "ΑΣ"]),
        vocabulary_word(),
        st.text(alphabet=SCRIPTS, min_size=1, max_size=3),
    ))
    count = draw(st.one_of(st.integers(1, 120), st.integers(30, 400).map(lambda n: n // max(1, len(unit)))))
    return unit * max(count, 1) + draw(st.one_of(st.just(""), st.sampled_from(string.ascii_lowercase)))


def text_of(alphabet, max_size=12):
    return st.text(alphabet=alphabet, min_size=1, max_size=max_size)


FRAGMENTS = [
    vocabulary_word(),
    vocabulary_word(),
    text_of(string.ascii_letters + string.digits),
    text_of(any_character, 8),
    text_of(SCRIPTS),
    text_of(st.one_of(SCRIPTS, any_character)),
    text_of(CJK),
    text_of(st.one_of(CJK, st.sampled_from(string.ascii_letters)), 8),
    combining_stack(),
    emoji(),
    text_of(st.sampled_from(CONTROL), 4),
    text_of(st.sampled_from(INVISIBLE), 4),
    text_of(st.sampled_from(WHITESPACE), 10),
    text_of(st.sampled_from(PUNCTUATION), 6),
    text_of(st.sampled_from(ODD_CASES), 6),
    text_of(st.sampled_from(SIGMA_CONTEXT), 8),
    st.sampled_from(SPECIAL_TEXT),
    text_of(st.characters(categories=["Nd", "Nl", "No"]), 6),
    st.integers().map(str) | st.floats(allow_nan=False).map(str),
    long_word(),
]
fragment = st.one_of(FRAGMENTS)
separator = st.one_of(st.sampled_from(["", " ", " ", " ", "\n"]), text_of(st.sampled_from(WHITESPACE), 6))


@st.composite
def short_text(draw):
    parts = draw(st.lists(fragment, max_size=10))
    return "".join(part + draw(separator) for part in parts)


@st.composite
def long_text(draw):
    """A text of hundreds to thousands of tokens, far beyond max_length. (The
    reference's time is in these: a few repeats are as good as many for truncation.)"""
    pieces = draw(st.lists(short_text(), min_size=1, max_size=4))
    return " ".join(pieces * draw(st.integers(8, 24)))


one_string = st.one_of(short_text(), short_text(), short_text(), short_text(), short_text(), short_text(),
                       short_text(), short_text(), short_text(), long_text())


# --- The tests ------------------------------------------------------------------------


def test_fuzz_parity_with_reference(reference, minilm, minilm_short):
    seen, pending = [], []

    def check_pending():
        """Tokenizes the strings gathered so far in one batch (tfbert is fast on a
        batch, slow string by string) and fails on any difference."""
        batch = pending[:]
        pending.clear()
        problems = compare(batch, reference, minilm, minilm_short)
        if problems:
            failing = [text for text in batch if reference.ids(text) != minilm.tokenize(utf8([text])).to_list()[0]]
            raise AssertionError(
                f"{len(problems)} difference(s) from the reference:\n" + "\n".join(problems[:20])
                + "\nAdd the strings to tests/fixtures/tokenizer_fuzz_regressions.json:\n"
                + json.dumps(failing or batch, ensure_ascii=True)
            )

    @settings(
        max_examples=STRINGS,
        derandomize=True,  # the same strings in every run
        database=None,
        deadline=None,
        # The failing strings are printed whole: shrinking would re-tokenize them thousands of times.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(text=one_string)
    def check(text):
        seen.append(text)
        pending.append(text)
        if len(pending) == BATCH:
            check_pending()

    check()
    if pending:
        check_pending()
    assert len(seen) >= 10_000
    kinds = {unicodedata.category(c) for text in seen for c in text}
    assert kinds == set(CATEGORIES), f"categories never generated: {set(CATEGORIES) - kinds}"
    # Truncation was exercised: some string is longer than max_length in tokens (the
    # longest in characters may be one character repeated, few tokens: look at 20).
    longest = sorted(seen, key=len)[-20:]
    assert max(len(reference.ids(text)) for text in longest) > minilm.max_length
    assert sum(1 for text in seen if text) > 9_000  # generated, not shrunk to nothing


def regression_strings():
    if not REGRESSIONS.is_file():
        return []
    return json.loads(REGRESSIONS.read_text(encoding="utf-8"))["strings"]


@pytest.mark.parametrize("entry", regression_strings(), ids=lambda entry: entry["note"][:40])
def test_fuzz_regressions(entry, reference, minilm, minilm_short):
    assert compare([entry["text"]], reference, minilm, minilm_short) == []


def test_fuzz_regressions_packed_as_one_batch(reference, minilm, minilm_short):
    """The regression strings and a few short texts in one batch, single and as pairs:
    rows of very different lengths, so that padding (ids, segments, mask) is compared
    as well as the tokens."""
    texts = [entry["text"] for entry in regression_strings()] + ["", "a", "hello , world", "[CLS] x"]
    lengths = minilm.packed_lengths(minilm.tokenize(utf8(texts))).numpy()
    assert lengths.min() == 2 and lengths.max() == minilm.max_length  # padding and truncation
    assert compare(texts, reference, minilm, minilm_short) == []
