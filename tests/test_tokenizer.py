"""Tests of tfbert.text.tokenizer.BertTokenizer.

The parity tests compare token ids with Hugging Face's BertTokenizerLegacy (the Python
port of Google's tokenization.py). For text the project may redistribute the reference
is precomputed by tools/make_tokenizer_fixture.py into two fixtures, which run on every
clone:

- tests/fixtures/tokenizer_sample.json.gz: texts and ids of a small sample of real text
  that may be redistributed (STS-B caption sentences, CC BY-SA; Chinese medical Q&A,
  MIT; the fixture names sources and licenses), and packing cases on it.
- tests/fixtures/tokenizer_reference.json.gz: ids and packing cases of
  tests/fixtures/hard_strings.json.

The whole benchmark files (SST-2 dev and train, ChnSentiCorp dev) are compared with the
same reference call made here, at test time, on texts read from ../shared/data: their
licenses do not allow committing anything derived from them (ChnSentiCorp's is
non-commercial, not for redistribution; SST-2's states none). These tests skip without
the data, and fail under TFBERT_REQUIRE_BENCHMARK_DATA=1.
"""

import functools
import gzip
import hashlib
import json
import pathlib
import random

import numpy as np
import pytest
import tensorflow as tf

from conftest import FIXTURES, benchmark_data
from tfbert.models.pretrained import resolve_checkpoint_dir
from tfbert.text.tokenizer import BertTokenizer


def read_fixture(name):
    return json.loads(gzip.decompress((FIXTURES / name).read_bytes()))


REFERENCE = read_fixture("tokenizer_reference.json.gz")  # ids and packing of the hard strings
SAMPLE = read_fixture("tokenizer_sample.json.gz")  # texts and ids of a redistributable sample
SAMPLE_SOURCES = list(SAMPLE["sources"])
# Whole benchmark files in ../shared/data, whose reference is computed at test time:
# name -> (file, column, rows after the header line).
BENCHMARK_SOURCES = {
    "sst2_dev": ("sst2/dev.tsv", "sentence", 872),
    "sst2_train": ("sst2/train.tsv", "sentence", 67_349),
    "chnsenticorp_dev": ("chnsenticorp/dev.tsv", "text_a", 1_200),
}
# max_length of the benchmark packing cases (the sample's cases use the same).
MAX_LENGTHS = [3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 24, 32, 48, 64, 128]

# Texts where tfbert knowingly differs from the reference: {(source, row): reason}.
# Empty: every text of every source matches. The parity test fails if this list is
# wrong in either direction (a listed text that now matches must be removed).
KNOWN_DIFFERENCES = {}

# Counts of identical texts per source, printed at the end of this module.
PARITY = {}


@pytest.fixture(scope="module", autouse=True)
def parity_summary(request):
    yield
    if PARITY:
        lines = ["", "tokenizer parity with Hugging Face BertTokenizerLegacy:"]
        lines += [f"  {source}: {same}/{total} texts identical" for source, (same, total) in PARITY.items()]
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n".join(lines))


@pytest.fixture(scope="module")
def minilm():
    return BertTokenizer.from_pretrained("all-minilm-l6-v2")


TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##b", "cafe", "café", "Café", "Cafe", "hello", "Hello"
]


def tiny(**kwargs):
    return BertTokenizer(TINY_VOCAB, **kwargs)


def read_tsv_column(path, column, num_rows=None):
    """One column of a TSV file with a header line (same reader as the fixture tool)."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
    index = lines[0].split("\t").index(column)
    texts = [line.split("\t")[index] for line in lines[1:] if line]
    return texts if num_rows is None else texts[:num_rows]


@functools.cache
def hard_strings():
    entries = json.loads((FIXTURES / "hard_strings.json").read_text(encoding="utf-8"))["strings"]
    return [dict(entry, text=entry["text"] * entry.get("repeat", 1)) for entry in entries]


@functools.cache
def source_texts(name):
    """The texts of a source: the sample's from the sample fixture, the hard strings'
    from hard_strings.json, a benchmark file's from ../shared/data (a skip without it)."""
    if name in SAMPLE["sources"]:
        return SAMPLE["sources"][name]["texts"]
    if name == "hard_strings":
        source = REFERENCE["sources"][name]
        digest = hashlib.sha256((FIXTURES / "hard_strings.json").read_bytes()).hexdigest()
        assert digest == source["file_sha256"], (
            "tests/fixtures/hard_strings.json changed since the fixture was made; rerun "
            "tools/make_tokenizer_fixture.py --reference")
        return [entry["text"] for entry in hard_strings()]
    file, column, rows = BENCHMARK_SOURCES[name]
    texts = read_tsv_column(benchmark_data(file), column)
    assert len(texts) == rows, f"benchmark file {file}: {len(texts)} rows, not the {rows} of the split"
    return texts


@functools.cache
def hugging_face():
    """The fixtures' reference (see their "reference" field and
    tools/make_tokenizer_fixture.py), for the benchmark files' parity at test time."""
    import transformers
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    transformers.logging.set_verbosity_error()  # its notes on pair truncation, per call
    vocab_file = resolve_checkpoint_dir(REFERENCE["checkpoint"]) / "vocab.txt"
    return BertTokenizerLegacy(vocab_file=str(vocab_file), do_lower_case=True)


def reference_ids(text):
    """WordPiece ids without special tokens; a literal "[CLS]" in the text is plain text."""
    tokenizer = hugging_face()
    return tokenizer.convert_tokens_to_ids(tokenizer._tokenize(text, split_special_tokens=True))


def reference_packed(text, text_pair, max_length):
    """Hugging Face's packing and longest_first truncation of the reference ids."""
    encoding = hugging_face().prepare_for_model(
        reference_ids(text), None if text_pair is None else reference_ids(text_pair),
        truncation="longest_first", max_length=max_length, return_token_type_ids=True)
    return {"input_ids": encoding["input_ids"], "token_type_ids": encoding["token_type_ids"]}


@functools.cache
def expected_ids(name):
    """The reference ids of a source's texts: committed for the sample and the hard
    strings, computed here for a benchmark file."""
    if name in SAMPLE["sources"]:
        return SAMPLE["sources"][name]["ids"]
    if name in REFERENCE["sources"]:
        return REFERENCE["sources"][name]["ids"]
    return [reference_ids(text) for text in source_texts(name)]


def text_of(reference):
    """A text named in a fixture as [source, row, field] or [source, row]."""
    source, row = reference[:2]
    if source == "hard_strings":
        return hard_strings()[row][reference[2]]
    return source_texts(source)[row]


# --- Parity with Hugging Face ---------------------------------------------------------


def test_fixture_matches_vocabulary(minilm):
    path = resolve_checkpoint_dir(REFERENCE["checkpoint"]) / "vocab.txt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == REFERENCE["vocab_sha256"]
    assert (SAMPLE["checkpoint"], SAMPLE["vocab_sha256"]) == (REFERENCE["checkpoint"], REFERENCE["vocab_sha256"])
    assert SAMPLE["reference"] == REFERENCE["reference"]  # the same call made both
    assert minilm.lowercase and minilm.max_length == 512


def test_committed_reference_holds_nothing_of_the_benchmark_data():
    """The committed fixtures hold only the hard strings and the redistributable sample:
    no text or id of a benchmark file (those are compared at test time)."""
    assert list(REFERENCE["sources"]) == ["hard_strings"]
    assert {case["text"][0] for case in REFERENCE["packed"]} == {"hard_strings"}
    assert {case["text_pair"][0] for case in REFERENCE["packed"] if case["text_pair"]} <= {"hard_strings"}
    assert {entry["where"][0] for entry in REFERENCE["public_api_differences"]} <= {"hard_strings"}
    for fixture in (REFERENCE, SAMPLE):
        named = {case[key][0] for case in fixture["packed"] for key in ("text", "text_pair") if case[key]}
        assert named <= {"hard_strings", *SAMPLE_SOURCES}
        assert not set(fixture["sources"]) & set(BENCHMARK_SOURCES)
    assert (FIXTURES / "tokenizer_reference.json.gz").stat().st_size < 20_000


def test_reference_made_here_is_the_fixtures_reference():
    """The call the benchmark parity makes at test time gives the committed ids of the
    hard strings (a literal "[CLS]" among them, where HF's public call differs) and
    their packing: the test-time reference is the fixtures' reference."""
    assert reference_ids("[CLS] x [SEP]") != hugging_face().convert_tokens_to_ids(
        hugging_face().tokenize("[CLS] x [SEP]", split_special_tokens=True))
    entries = hard_strings()
    source = REFERENCE["sources"]["hard_strings"]
    assert [reference_ids(entry["text"]) for entry in entries] == source["ids"]
    assert {str(row): reference_ids(entry["text_pair"]) for row, entry in enumerate(entries)
            if "text_pair" in entry} == source["pair_ids"]
    for case in REFERENCE["packed"]:
        pair = None if case["text_pair"] is None else text_of(case["text_pair"])
        assert reference_packed(text_of(case["text"]), pair, case["max_length"]) == {
            "input_ids": case["input_ids"], "token_type_ids": case["token_type_ids"]}


def test_sample_is_small_and_names_its_sources_and_licenses():
    """The committed sample stays a sample, says where each text comes from and under
    which license, and exercises what the benchmark files did: pairs, truncation at
    every length, Chinese text cut at 512 (and mixed with English in one pair)."""
    assert (FIXTURES / "tokenizer_sample.json.gz").stat().st_size < 300_000
    assert set(SAMPLE_SOURCES) == {"stsb_captions", "medical_qa_zh"}
    for source in SAMPLE["sources"].values():
        assert source["from"] and source["license"]
        assert 100 <= len(source["texts"]) == len(source["ids"]) <= 400
    assert SAMPLE["sources"]["stsb_captions"]["license"].startswith("CC BY-SA 4.0")
    assert SAMPLE["sources"]["medical_qa_zh"]["license"] == "MIT"
    assert "Permission is hereby granted" in SAMPLE["sources"]["medical_qa_zh"]["license_text"]
    cases = SAMPLE["packed"]
    assert {case["max_length"] for case in cases} >= {3, 4, 5, 8, 16, 64, 128, 512}
    cut = [case for case in cases if case["text"][0] == "medical_qa_zh" and case["max_length"] == 512
           and len(expected_ids("medical_qa_zh")[case["text"][1]]) > 510]
    assert cut and all(len(case["input_ids"]) == 512 for case in cut)
    assert any(case["text_pair"] and case["text"][0] != case["text_pair"][0] for case in cases)


@pytest.mark.parametrize("source", SAMPLE_SOURCES + ["hard_strings"] + list(BENCHMARK_SOURCES))
def test_parity_with_hugging_face(minilm, source):
    """Every text of a source tokenizes to the reference ids. The sample and the hard
    strings run everywhere, on committed ids; the whole benchmark files need
    ../shared/data, and their reference is computed here."""
    texts = source_texts(source)
    expected = expected_ids(source)
    if source in SAMPLE["sources"]:
        rows = len(SAMPLE["sources"][source]["texts"])
    elif source in REFERENCE["sources"]:
        rows = REFERENCE["sources"][source]["rows"]
    else:
        rows = BENCHMARK_SOURCES[source][2]
    assert len(texts) == len(expected) == rows
    actual = minilm.tokenize(texts).to_list()
    mismatches = [row for row in range(len(texts)) if actual[row] != expected[row]]
    PARITY[source] = (len(texts) - len(mismatches), len(texts))
    unexpected = [row for row in mismatches if (source, row) not in KNOWN_DIFFERENCES]
    fixed = [row for (name, row) in KNOWN_DIFFERENCES if name == source and row not in mismatches]
    details = "; ".join(
        f"row {row}: {texts[row][:80]!r} -> {actual[row][:20]} != {expected[row][:20]}"
        for row in unexpected[:5]
    )
    assert not unexpected and not fixed, (
        f"{source}: {len(texts) - len(mismatches)}/{len(texts)} texts identical. "
        f"Unexpected differences: {details}. Listed but now identical: {fixed}"
    )


def test_hard_strings_cover_the_required_cases():
    entries = hard_strings()
    assert len(entries) >= 40
    assert all(entry["note"] for entry in entries)
    assert sum("text_pair" in entry for entry in entries) >= 2
    assert max(len(entry["text"]) for entry in entries) >= 100_000


def test_sample_packing_matches_hugging_face():
    """[CLS] a [SEP] b [SEP], segment ids and longest_first truncation, as HF packs: on
    the committed sample and the hard strings (runs everywhere)."""
    assert len(SAMPLE["packed"]) >= 60
    check_packing(SAMPLE["packed"], SAMPLE["checkpoint"])


def benchmark_packing_cases():
    """Packing cases on benchmark texts, with Hugging Face's packing computed here:
    consecutive SST-2 dev sentences as pairs and single sentences at several
    max_length, the longest ChnSentiCorp reviews cut at 512, alone and as a pair."""
    cases = []

    def case(text, text_pair, max_length):
        packed = reference_packed(text_of(text), None if text_pair is None else text_of(text_pair),
                                  max_length)
        cases.append({"text": text, "text_pair": text_pair, "max_length": max_length, **packed})

    for i, max_length in enumerate(MAX_LENGTHS):
        for row in (2 * i, 100 + 3 * i):
            case(["sst2_dev", row], ["sst2_dev", row + 1], max_length)
        case(["sst2_dev", 200 + i], None, max_length)
    tokens = expected_ids("chnsenticorp_dev")
    longest = sorted(range(len(tokens)), key=lambda row: -len(tokens[row]))
    assert len(tokens[longest[2]]) > 510 and len(tokens[longest[3]]) + len(tokens[longest[4]]) > 509
    for row in longest[:3]:
        case(["chnsenticorp_dev", row], None, 512)
    case(["chnsenticorp_dev", longest[3]], ["chnsenticorp_dev", longest[4]], 512)
    return cases


def test_packing_matches_hugging_face():
    """The same on SST-2 dev sentences and the longest ChnSentiCorp reviews (needs
    ../shared/data; the reference is computed here)."""
    cases = benchmark_packing_cases()
    assert len(cases) >= 40
    assert sum(len(case["input_ids"]) == case["max_length"] for case in cases) >= 20  # truncated
    check_packing(cases, REFERENCE["checkpoint"])


def check_packing(cases, checkpoint):
    by_max_length = {}
    for case in cases:
        by_max_length.setdefault(case["max_length"], []).append(case)
    vocab_file = resolve_checkpoint_dir(checkpoint) / "vocab.txt"
    checked = 0
    for max_length, group in sorted(by_max_length.items()):
        tokenizer = BertTokenizer(vocab_file, max_length=max_length)
        pad_id = tokenizer.vocabulary.index("[PAD]")
        for is_pair in (False, True):
            batch = [case for case in group if (case["text_pair"] is not None) == is_pair]
            if not batch:
                continue
            texts = [text_of(case["text"]) for case in batch]
            if is_pair:
                out = tokenizer(texts, [text_of(case["text_pair"]) for case in batch])
            else:
                out = tokenizer(texts)
            out = {key: value.numpy().tolist() for key, value in out.items()}
            # One batch, padded to its longest row: every position is compared.
            width = max(len(case["input_ids"]) for case in batch)
            assert {len(row) for value in out.values() for row in value} == {width}
            for row, case in enumerate(batch):
                padding = width - len(case["input_ids"])
                assert out["input_ids"][row] == case["input_ids"] + [pad_id] * padding, case
                assert out["segment_ids"][row] == case["token_type_ids"] + [0] * padding, case
                assert out["input_mask"][row] == [1] * len(case["input_ids"]) + [0] * padding, case
                checked += 1
    assert checked == len(cases)


def test_literal_special_tokens_are_plain_text(minilm):
    """"[CLS]" typed in a text is not the [CLS] token (Google's original behaviour).

    Hugging Face's public tokenize(text, split_special_tokens=True) still keeps a
    space-separated "[CLS]" whole; the fixture records where that happens, and it is
    only the hard string made for it.
    """
    ids = minilm.tokenize(["[CLS] x [SEP]"]).to_list()[0]
    assert minilm.cls_id not in ids and minilm.sep_id not in ids
    rows = [entry["where"] for entry in REFERENCE["public_api_differences"]]
    entries = hard_strings()
    assert [entries[row]["text"] for _, row in rows] == [
        entry["text"] for entry in entries if entry["text"].startswith("[CLS] literal")
    ]


# --- Truncation ----------------------------------------------------------------------


def longest_first(first_length, second_length, budget):
    """HF's "longest_first" (and Google's _truncate_seq_pair) by definition: remove one
    token at a time from the longer text, from the second on ties."""
    while first_length + second_length > budget:
        if first_length > second_length:
            first_length -= 1
        else:
            second_length -= 1
    return first_length, second_length


# Every token spelled with its position, so that a packed row shows which ones survived.
NUMBERED_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"a{i}" for i in range(64)] + [f"b{i}" for i in range(64)]


def test_longest_first_keeps_the_head_of_each_text():
    rng = random.Random(0)
    triples = [(la, lb, m) for la in range(8) for lb in range(8) for m in range(3, 20)]
    triples += [(rng.randint(0, 60), rng.randint(0, 60), rng.randint(3, 130)) for _ in range(5000)]
    by_max_length = {}
    for la, lb, max_length in triples:
        by_max_length.setdefault(max_length, []).append((la, lb))
    for max_length, lengths in sorted(by_max_length.items()):
        tokenizer = BertTokenizer(NUMBERED_VOCAB, max_length=max_length)
        out = tokenizer(
            [" ".join(f"a{i}" for i in range(la)) for la, _ in lengths],
            [" ".join(f"b{i}" for i in range(lb)) for _, lb in lengths],
        )
        ids, mask = out["input_ids"].numpy(), out["input_mask"].numpy()
        for row, (la, lb) in enumerate(lengths):
            ka, kb = longest_first(la, lb, max_length - 3)
            expected = (["[CLS]"] + [f"a{i}" for i in range(ka)] + ["[SEP]"]
                        + [f"b{i}" for i in range(kb)] + ["[SEP]"])
            got = [NUMBERED_VOCAB[i] for i in ids[row][mask[row] == 1]]
            assert got == expected, (la, lb, max_length)


def test_truncation_end_to_end():
    rng = random.Random(1)
    for max_length in (3, 4, 5, 7, 10):
        tokenizer = tiny(max_length=max_length)
        lengths = [(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(20)]
        out = tokenizer([" ".join("a" * la) for la, _ in lengths], [" ".join("b" * lb) for _, lb in lengths])
        single = tokenizer([" ".join("a" * la) for la, _ in lengths])
        a, b = tokenizer.vocabulary.index("a"), tokenizer.vocabulary.index("b")
        for row, (la, lb) in enumerate(lengths):
            ka, kb = longest_first(la, lb, max_length - 3)
            expected = [2] + [a] * ka + [3] + [b] * kb + [3]
            n = len(expected)
            assert out["input_ids"][row, :n].numpy().tolist() == expected
            assert out["segment_ids"][row, :n].numpy().tolist() == [0] * (ka + 2) + [1] * (kb + 1)
            assert out["input_mask"][row].numpy().sum() == n
            ks = min(la, max_length - 2)
            assert single["input_ids"][row, : ks + 2].numpy().tolist() == [2] + [a] * ks + [3]


# --- Shapes and batching -------------------------------------------------------------


def test_padding_to_the_longest_row():
    tokenizer = tiny()
    out = tokenizer(["a", "a b c a", ""])
    assert out["input_ids"].dtype == tf.int32 and out["input_ids"].shape == (3, 6)
    np.testing.assert_array_equal(out["input_ids"], [[2, 4, 3, 0, 0, 0], [2, 4, 5, 6, 4, 3], [2, 3, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["input_mask"], [[1, 1, 1, 0, 0, 0], [1] * 6, [1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["segment_ids"], np.zeros((3, 6)))
    pair = tokenizer(["a", "a b"], ["b b", ""])
    np.testing.assert_array_equal(pair["input_ids"], [[2, 4, 3, 5, 5, 3], [2, 4, 5, 3, 3, 0]])
    np.testing.assert_array_equal(pair["segment_ids"], [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 0]])
    np.testing.assert_array_equal(pair["input_mask"], [[1] * 6, [1, 1, 1, 1, 1, 0]])


def test_pad_id_is_the_vocabularys():
    vocab = ["[UNK]", "[CLS]", "[SEP]", "x", "[PAD]"]
    out = BertTokenizer(vocab)(["x x", ""])
    np.testing.assert_array_equal(out["input_ids"], [[1, 3, 3, 2], [1, 2, 4, 4]])


def test_empty_batch():
    tokenizer = tiny()
    assert tokenizer.tokenize([]).shape[0] == 0
    for out in (tokenizer([]), tokenizer([], []), tokenizer(tf.zeros([0], tf.string))):
        for value in out.values():
            assert value.dtype == tf.int32 and value.shape.rank == 2 and value.shape[0] == 0


def test_input_types():
    tokenizer = tiny()
    expected = tokenizer(["a b", "c"])["input_ids"].numpy()
    for texts in (np.array(["a b", "c"]), np.array([b"a b", b"c"], dtype=object), tf.constant(["a b", "c"])):
        np.testing.assert_array_equal(tokenizer(texts)["input_ids"], expected)
    np.testing.assert_array_equal(tokenizer("a b")["input_ids"], expected[:1, :4])  # a scalar is a batch of one


def test_in_tf_function_and_tf_data(minilm):
    texts = ["Hello, world!", "It's a charming and often affecting journey.", "", "你好，世界"]
    pairs = ["a second text", "", "x", "再见"]
    eager = minilm(texts, pairs)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    def packed(a, b):
        return minilm(a, b)

    graph = packed(tf.constant(texts), tf.constant(pairs))
    graph_tokens = tf.function(minilm.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])(texts)
    assert graph_tokens.to_list() == minilm.tokenize(texts).to_list()

    dataset = tf.data.Dataset.from_tensor_slices((texts, pairs)).batch(2).map(minilm)
    batches = list(dataset)
    assert len(batches) == 2
    for key in eager:
        np.testing.assert_array_equal(graph[key], eager[key])
        mapped = [batch[key].numpy() for batch in batches]
        for start, batch in zip((0, 2), mapped):
            np.testing.assert_array_equal(batch, eager[key][start : start + 2, : batch.shape[1]])


@pytest.mark.slow  # a SavedModel export
def test_saved_model_round_trip(tmp_path, minilm):
    module = tf.Module()
    module.tokenizer = minilm
    module.serve = tf.function(lambda texts: minilm(texts), input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    texts = tf.constant(["Hello, world!", "Café ΟΔΟΣ 你好"])
    np.testing.assert_array_equal(loaded.serve(texts)["input_ids"], minilm(texts)["input_ids"])


# --- Robustness ----------------------------------------------------------------------


def test_invalid_utf8_does_not_crash(minilm):
    texts = tf.constant([b"hel\xfflo", b"\xc3", b"caf\xc3\xa9 \xed\xa0\x80x", b"\xff" * 10])
    ids = minilm.tokenize(texts).to_list()
    # Invalid bytes become U+FFFD, which is deleted like the reference deletes it.
    assert ids == minilm.tokenize(["hello", "", "café x", ""]).to_list()
    assert minilm(texts)["input_ids"].shape[0] == 4


def test_long_strings(minilm):
    words = ("The quick brown fox jumps over the lazy dog. " * 2300)[:100_000]
    one_word = "x" * 100_000
    ids = minilm.tokenize([words, one_word]).to_list()
    assert len(ids[0]) > 20_000 and ids[1] == [minilm.unk_id]
    out = minilm([words, one_word])
    assert out["input_ids"].shape == (2, 512)
    assert out["input_ids"][1, :3].numpy().tolist() == [minilm.cls_id, minilm.unk_id, minilm.sep_id]


def test_word_length_limit_counts_characters():
    tokenizer = tiny(max_chars_per_word=4)
    assert tokenizer.tokenize(["abbb", "abbbb", "éé"]).to_list() == [[4, 7, 7, 7], [1], [1]]


def test_unassigned_code_points_are_deleted():
    """RE2 has no class for unassigned (Cn) code points, which the reference deletes as
    control characters; the tokenizer's classes come from unicodedata instead."""
    tokenizer = tiny()
    assert tokenizer.tokenize(["a\u0378b", "a\U000e0080b", "ab"]).to_list() == [[4, 7]] * 3


# --- Case and accents ----------------------------------------------------------------


@pytest.mark.parametrize(
    "lowercase, strip_accents, expected",
    [
        (True, None, "cafe"),
        (True, True, "cafe"),
        (True, False, "café"),
        (False, None, "Café"),
        (False, False, "Café"),
        (False, True, "Cafe"),
    ],
)
def test_lowercase_and_accents(lowercase, strip_accents, expected):
    tokenizer = tiny(lowercase=lowercase, strip_accents=strip_accents)
    # Composed and decomposed spellings agree (NFC first, as the reference).
    ids = tokenizer.tokenize(["Café", "Cafe\u0301"]).to_list()
    assert ids == [[TINY_VOCAB.index(expected)]] * 2


# --- Construction, config and errors ---------------------------------------------------


def test_attributes(minilm):
    assert minilm.vocabulary_size == len(minilm.vocabulary) == 30522
    assert (minilm.pad_id, minilm.unk_id, minilm.cls_id, minilm.sep_id) == (0, 100, 101, 102)
    assert minilm.vocabulary[101] == "[CLS]"


def test_config_round_trip():
    tokenizer = tiny(lowercase=False, strip_accents=True, max_length=7, max_chars_per_word=50)
    config = tokenizer.get_config()
    assert json.loads(json.dumps(config)) == config  # plain values only
    assert config["vocabulary"] == TINY_VOCAB
    restored = BertTokenizer.from_config(config)
    assert restored.get_config() == config
    texts = ["Café a b c a b c a", "Hello"]
    for key, value in tokenizer(texts, texts).items():
        np.testing.assert_array_equal(restored(texts, texts)[key], value)


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    for vocabulary in (path, str(path)):
        assert BertTokenizer(vocabulary).vocabulary == TINY_VOCAB


def test_from_pretrained_reads_tokenizer_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    google = BertTokenizer.from_pretrained(tmp_path)  # Google layout: vocab.txt only
    assert google.lowercase and google.strip_accents is None and google.max_length == 512
    assert google.tokenize(["Hello"]).to_list() == [[TINY_VOCAB.index("hello")]]
    cased = BertTokenizer.from_pretrained(tmp_path, lowercase=False)
    assert cased.tokenize(["Hello"]).to_list() == [[TINY_VOCAB.index("Hello")]]

    config = {"do_lower_case": False, "strip_accents": True, "model_max_length": 128}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    hf = BertTokenizer.from_pretrained(tmp_path)
    assert (hf.lowercase, hf.strip_accents, hf.max_length) == (False, True, 128)
    config["model_max_length"] = int(1e30)  # HF's "no limit"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    assert BertTokenizer.from_pretrained(tmp_path).max_length == 512
    assert BertTokenizer.from_pretrained(tmp_path, max_length=64).max_length == 64


def test_missing_vocabulary_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "vocab.txt"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        BertTokenizer(path)
    with pytest.raises(FileNotFoundError):
        BertTokenizer.from_pretrained(tmp_path)  # a directory without vocab.txt


@pytest.mark.parametrize("token", ["[UNK]", "[CLS]", "[SEP]", "[PAD]"])
def test_missing_special_token_is_named(token):
    vocab = [t for t in TINY_VOCAB if t != token]
    with pytest.raises(ValueError, match=token.replace("[", r"\[").replace("]", r"\]")):
        BertTokenizer(vocab)


def test_duplicate_vocabulary_entry_names_token_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCAB + ["cafe"]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'cafe' at line 15 \(first at line 9\)"):
        BertTokenizer(path)


def test_max_length_too_small():
    with pytest.raises(ValueError, match="max_length=1"):
        tiny(max_length=1)
    two = tiny(max_length=2)
    np.testing.assert_array_equal(two(["a b"])["input_ids"], [[2, 3]])
    with pytest.raises(ValueError, match="max_length=2"):
        two(["a"], ["b"])


def test_bad_texts():
    tokenizer = tiny()
    with pytest.raises(TypeError, match="texts must be"):
        tokenizer.tokenize(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="texts must be"):
        tokenizer.tokenize([1, 2])
    with pytest.raises(ValueError, match=r"shape \[B\]"):
        tokenizer.tokenize([["a"], ["b"]])
    with pytest.raises(ValueError, match="batch size"):
        tokenizer(["a", "b"], ["c"])
