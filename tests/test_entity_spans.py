"""entity_spans (TF ops, in the served graph) reads the same entities from predicted tags
as tag_schemes.chunks (Python, conlleval's rules), on random and ill-formed sequences."""

import numpy as np
import pytest
import tensorflow as tf

from tfbert.data.entity_spans import chunk_tables, entity_spans
from tfbert.data.tag_schemes import chunks

TAG_SETS = {
    "iob2": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-fromloc.city_name",
             "I-fromloc.city_name"],
    "bioes": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-ORG", "I-ORG", "E-ORG", "S-ORG"],
    "bmes": ["O", "B-NAME", "M-NAME", "E-NAME", "S-NAME", "B-ORG", "M-ORG", "E-ORG", "S-ORG"],
    # "O" need not come first, and a type may hold a dash.
    "shuffled": ["B-a-b", "I-X", "O", "E-X", "I-a-b", "S-X", "B-X", "M-X"],
    "only O": ["O"],
}


def random_rows(rng, num_tags, rows=40, max_words=12):
    lengths = rng.integers(0, max_words + 1, size=rows)
    lengths[rng.random(rows) < 0.2] = 0  # plenty of empty rows
    return [rng.integers(0, num_tags, size=n).tolist() for n in lengths]


def as_spans(tag_names, rows):
    types, first, last = (t.to_list() for t in entity_spans(
        tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1, inner_shape=()), tag_names))
    assert len(types) == len(first) == len(last) == len(rows)
    return [[(t.decode(), f, l + 1) for t, f, l in zip(*row)] for row in zip(types, first, last)]


def expected(tag_names, rows):
    return [chunks([tag_names[i] for i in row]) for row in rows]


@pytest.mark.parametrize("name", list(TAG_SETS))
def test_random_sequences_match_chunks(name):
    tag_names = TAG_SETS[name]
    rng = np.random.default_rng(len(name))
    for _ in range(5):
        rows = random_rows(rng, len(tag_names))
        assert as_spans(tag_names, rows) == expected(tag_names, rows)


@pytest.mark.parametrize("name", ["iob2", "bioes", "bmes"])
def test_every_pair_and_triple_of_tags(name):
    """All sequences of up to three tags: every ill-formed step is met."""
    tag_names = TAG_SETS[name]
    c = len(tag_names)
    rows = [[a] for a in range(c)] + [[a, b] for a in range(c) for b in range(c)]
    rows += [[a, b, d] for a in range(c) for b in range(c) for d in range(c)]
    assert as_spans(tag_names, rows) == expected(tag_names, rows)


def test_known_sentences():
    iob2 = TAG_SETS["iob2"]
    ids = {name: i for i, name in enumerate(iob2)}
    rows = [["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER"],  # I- after O starts one
            [], ["O", "O"], ["I-fromloc.city_name"]]
    spans = as_spans(iob2, [[ids[t] for t in row] for row in rows])
    assert spans == [[("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("PER", 6, 7)], [], [],
                     [("fromloc.city_name", 0, 1)]]
    bioes = TAG_SETS["bioes"]
    ids = {name: i for i, name in enumerate(bioes)}
    rows = [["B-PER", "E-PER", "S-ORG", "E-ORG", "B-ORG", "B-ORG", "I-ORG", "O"]]
    assert as_spans(bioes, [[ids[t] for t in row] for row in rows]) == [
        [("PER", 0, 2), ("ORG", 2, 3), ("ORG", 3, 4), ("ORG", 4, 5), ("ORG", 5, 7)]]


def test_empty_batches():
    for rows in ([], [[]], [[], [], []]):
        types, first, last = entity_spans(
            tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32),
                                             tf.zeros([len(rows)], tf.int64)), TAG_SETS["iob2"])
        assert types.to_list() == first.to_list() == last.to_list() == [[]] * len(rows)
        assert types.dtype == tf.string and first.dtype == last.dtype == tf.int32


def test_in_a_tf_function_with_unknown_shapes_and_int64_ids():
    tag_names = TAG_SETS["bmes"]
    spans_of = tf.function(lambda ids: entity_spans(ids, tag_names), input_signature=[
        tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1, row_splits_dtype=tf.int32)])
    rng = np.random.default_rng(3)
    for _ in range(3):
        rows = random_rows(rng, len(tag_names))
        ids = tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1, inner_shape=(),
                                 row_splits_dtype=tf.int32)
        types, first, last = (t.to_list() for t in spans_of(ids))
        got = [[(t.decode(), f, l + 1) for t, f, l in zip(*row)] for row in zip(types, first, last)]
        assert got == expected(tag_names, rows)


def test_chunk_tables_are_the_conlleval_steps():
    names = TAG_SETS["iob2"]
    starts, ends = chunk_tables(names)
    assert starts.shape == ends.shape == (len(names) + 1, len(names) + 1)
    index = {name: i for i, name in enumerate(names)}
    boundary = len(names)
    assert starts[boundary, index["I-PER"]]  # a sentence may start with I-
    assert not starts[index["B-PER"], index["I-PER"]]
    assert starts[index["B-LOC"], index["I-PER"]]  # a type change starts an entity
    assert ends[index["I-PER"], boundary] and ends[index["B-PER"], index["B-PER"]]
    assert not ends[index["B-PER"], index["I-PER"]] and not ends[index["O"], boundary]
    assert not starts[:, index["O"]].any() and not ends[index["O"], :].any()


# Words of raw text and where they are: what the served tagger's offsets come from ------

import json  # noqa: E402

from conftest import FIXTURES  # noqa: E402
from tfbert.text.offsets import char_offsets  # noqa: E402

VARIED = [
    "Hello, World! It's (really) a test... isn't it?",
    "我爱北京天安门。你好，世界！",
    "I love 🤗 and 😀👍🏽 in Paris 🇫🇷!",
    "Café naïve résumé Ångström",
    "Cafe\u0301 nai\u0308ve a\u0300\u0301\u0302b",
    "a\x00b\x01c\x7fd e\x1ff",
    "\x00lead and trail\x00",
    "tab\there\nnew\r\nline",
    "ideographic\u3000space\u3000here",
    "zero\u200bwidth\u200b space",
    "",
    "   ",
    "\u200b\x00\x01",
    "Mr. O'Neil-Smith paid $3.50 (tax incl.) at 12:30pm; ok?",
    "東京タワー and Seoul 서울 and مرحبا",
]


def hard_strings():
    entries = json.loads((FIXTURES / "hard_strings.json").read_text(encoding="utf-8"))["strings"]
    texts = [entry["text"] * entry.get("repeat", 1) for entry in entries]
    return texts + [entry["text_pair"] for entry in entries if "text_pair" in entry]


HARD = hard_strings()
# tokenize() lowercases the whole text, tokenize_words() each word on its own: ICU's
# Greek final sigma rule looks across punctuation, so "ΑΣ.Β" lowercases to "ασ.β" whole
# but its word "ΑΣ" alone to "ας" (and "Α'Σ": "α'ς" whole, the word "Σ" alone "σ").
FINAL_SIGMA = HARD.index("ΟΔΥΣΣΕΥΣ ΟΔΟΣ Σ ΑΣ.Β Α'Σ")


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from tfbert import BertTokenizer

    return BertTokenizer.from_pretrained("all-minilm-l6-v2")


@pytest.fixture(scope="module")
def split_all(minilm_tokenizer):
    """Every text of VARIED and HARD split, tokenized whole and word by word, in one batch."""
    tokenizer = minilm_tokenizer
    texts = VARIED + HARD
    words, begins, ends = tokenizer.split_words_with_offsets(tf.constant(texts))
    assert words.dtype == tf.string and begins.dtype == ends.dtype == tf.int64
    pieces = tokenizer.tokenize_words(words).to_list()
    # The offsets slice the text as written: tokenizing those slices gives the same pieces.
    slices = [[text.encode()[b:e] for b, e in zip(row_b, row_e)]
              for text, row_b, row_e in zip(texts, begins.to_list(), ends.to_list())]
    slice_pieces = tokenizer.tokenize_words(
        tf.ragged.constant(slices, dtype=tf.string, ragged_rank=1, inner_shape=())).to_list()
    return {text: (words.to_list()[i], slices[i], pieces[i], slice_pieces[i], whole)
            for i, (text, whole) in enumerate(zip(texts, tokenizer.tokenize(texts).to_list()))}


def check_split(split_all, text):
    words, slices, pieces, slice_pieces, whole = split_all[text]
    assert [p for word in pieces for p in word] == whole
    assert slice_pieces == pieces
    encoded = text.encode()
    for word, piece in zip(slices, words):
        # As written (only a NUL, which the split cannot keep, reads as \x01).
        assert piece == word.replace(b"\x00", b"\x01")
        assert word.strip() and word in encoded
    # Words are in order and do not overlap.
    position = 0
    for word in slices:
        at = encoded.index(word, position)
        position = at + len(word)


@pytest.mark.parametrize("index", range(len(VARIED)))
def test_split_words_of_varied_strings(split_all, index):
    check_split(split_all, VARIED[index])


@pytest.mark.parametrize("index", [
    pytest.param(i, marks=pytest.mark.xfail(strict=True, reason="Greek final sigma: ICU "
                                            "lowercases in context across punctuation"))
    if i == FINAL_SIGMA else i for i in range(len(HARD))])
def test_split_words_of_hard_strings(split_all, index):
    check_split(split_all, HARD[index])


def test_split_words_offsets_exactly(minilm_tokenizer):
    text = "é 你好, a\x00b 😀x"
    words, begins, ends = minilm_tokenizer.split_words_with_offsets([text])
    got = [(w.decode(), text.encode()[b:e].decode())
           for w, b, e in zip(words.to_list()[0], begins.to_list()[0], ends.to_list()[0])]
    assert got == [("é", "é"), ("你", "你"), ("好", "好"), (",", ","), ("a\x01b", "a\x00b"),
                   ("😀x", "😀x")]
    assert begins.to_list()[0] == [0, 3, 6, 9, 11, 15]


def test_split_words_repairs_invalid_utf8(minilm_tokenizer):
    raw = b"ok caf\xe9 bar"
    words, begins, ends = minilm_tokenizer.split_words_with_offsets(tf.constant([raw]))
    repaired = raw.decode("utf-8", "replace").encode()
    assert [repaired[b:e] for b, e in zip(begins.to_list()[0], ends.to_list()[0])] == \
        words.to_list()[0] == [b"ok", "caf\ufffd".encode(), b"bar"]


def test_char_offsets():
    text = "a€😀 b"
    encoded = text.encode()
    byte_offsets = [0, 1, 4, 8, 9, 10, -1]
    chars = char_offsets(text, byte_offsets)
    assert chars == [0, 1, 2, 3, 4, 5, -1]
    for byte, char in zip(byte_offsets[:-1], chars):
        assert encoded[byte:].decode() == text[char:]
    with pytest.raises(ValueError, match="byte offset 2 is not at a character boundary"):
        char_offsets(text, [2])
    assert char_offsets("", [0, -1]) == [0, -1]


# Entities' offsets when their word occurs more than once in a text ---------------------

from tfbert.tasks import TokenClassifier  # noqa: E402
from tiny_models import VOCAB, tiny  # noqa: E402

# The word "film" (and "好") inside and outside entities: an offset found by searching
# the text for the entity (its first occurrence) would be wrong for all but the first.
REPEATED = [
    "film 😀 is the film, é was the film!",  # the 2nd and 3rd "film" are entities
    "好 the 好好",                            # the 2nd "好" is one, the 1st and 3rd are not
    "the film",
]
# (entity_text, char start, char end, byte start, byte end), worked out by hand:
# "😀" is 4 bytes, "é" 2, "好" 3.
REPEATED_ENTITIES = [
    [("film", 14, 18, 17, 21), ("film", 30, 34, 34, 38)],
    [("好", 6, 7, 8, 11)],
    [("film", 4, 8, 4, 8)],
]


def tags_after_the(features):
    """A stand-in for the model's `infer`: a word right after "the" is B-ENT, every
    other word O (whatever the word), so that the same word is tagged both ways."""
    first_pieces = tf.gather(features["input_ids"], tf.cast(features["word_starts"], tf.int32),
                             batch_dims=1)                                     # [b, W]
    previous = tf.pad(first_pieces[:, :-1], [[0, 0], [1, 0]])
    return {"tag_ids": tf.where(previous == VOCAB.index("the"), 1, 0)}


def as_str(values):
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def test_offsets_of_an_entity_whose_word_occurs_twice():
    encoder, tokenizer = tiny()
    tagger = TokenClassifier(encoder, tokenizer, ["O", "B-ENT", "I-ENT"], crf=False)
    tagger.infer = tags_after_the
    by_bytes = tagger.predict_texts(REPEATED)  # what the served graph answers: UTF-8 bytes
    by_chars = tagger.predict(REPEATED)        # in process: str indices
    for i, (text, entities) in enumerate(zip(REPEATED, REPEATED_ENTITIES)):
        count = len(entities)
        for outputs, (start_at, end_at) in ((by_chars, (1, 2)), (by_bytes, (3, 4))):
            assert outputs["entity_count"][i] == count, text
            assert as_str(outputs["entity_type"][i][:count]) == ["ENT"] * count
            assert as_str(outputs["entity_text"][i][:count]) == [e[0] for e in entities]
            assert outputs["entity_start"][i][:count].tolist() == [e[start_at] for e in entities], text
            assert outputs["entity_end"][i][:count].tolist() == [e[end_at] for e in entities], text
            assert set(outputs["entity_start"][i][count:].tolist()) <= {-1}
        for _, start, end, byte_start, byte_end in entities:
            assert text.encode()[byte_start:byte_end].decode() == text[start:end]
