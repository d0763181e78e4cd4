"""Pretraining text: reading corpora into documents and sentences, and packing them
into sequences (with and without next-sentence prediction) without losing a token."""

import json

import numpy as np
import pytest

from tfbert.data.corpus import read_corpus, split_sentences
from tfbert.data.pretraining_data import (IS_NEXT, NO_NEXT_SENTENCE_LABEL, RANDOM_NEXT,
                                          pack_documents)


def test_sentences_end_at_chinese_and_western_marks_but_not_decimals():
    assert split_sentences("发热三天。咳嗽吗？有！“好的。”然后") == [
        "发热三天。", "咳嗽吗？", "有！", "“好的。”", "然后"]
    assert split_sentences("It costs 3.5 dollars. Really?  Yes (it does.) ok") == [
        "It costs 3.5 dollars.", "Really?", "Yes (it does.)", "ok"]
    assert split_sentences("   ") == []


def test_a_txt_corpus_is_a_document_per_line_or_blank_line_separated(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("第一篇。还是第一篇。\n\n第二篇\n", encoding="utf-8")  # blank inside: blocks
    corpus = read_corpus(lines)
    assert corpus.documents == [["第一篇。", "还是第一篇。"], ["第二篇"]]
    assert corpus.line_numbers == [1, 3]
    per_line = read_corpus(lines, documents="lines")
    assert per_line.documents == [["第一篇。", "还是第一篇。"], ["第二篇"]]
    blocks = tmp_path / "blocks.txt"
    blocks.write_text("A one.\nA two.\n\n\nB one.\r\n", encoding="utf-8")
    assert read_corpus(blocks).documents == [["A one.", "A two."], ["B one."]]
    assert read_corpus(blocks, documents="lines").documents == [["A one."], ["A two."], ["B one."]]
    flat = tmp_path / "flat.txt"
    flat.write_text("\ufeffdoc one. more\ndoc two\n\n", encoding="utf-8")  # BOM, trailing blanks
    assert read_corpus(flat).documents == [["doc one.", "more"], ["doc two"]]


def test_jsonl_and_several_files_make_one_corpus(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x. y"}) + "\n\n" +
                                      json.dumps({"text": "z", "id": 3}) + "\n")
    (tmp_path / "b.txt").write_text("w\n")
    corpus = read_corpus([tmp_path / "a.jsonl", tmp_path / "b.txt"])
    assert corpus.documents == [["x.", "y"], ["z"], ["w"]] and corpus.line_numbers == [1, 3, 1]
    assert corpus.sentence_count == 4


@pytest.mark.parametrize("name, data, message", [
    ("empty.txt", b"\n  \n", "empty.txt: the corpus holds no text"),
    ("bad.txt", "ok\nfine\n".encode() + b"caf\xe9\n", "bad.txt, line 3: not valid utf-8"),
    ("bad.jsonl", b'{"text": "a"}\n{"text": 3}\n', "bad.jsonl, line 2: expected an object with a string 'text'"),
    ("broken.jsonl", b'{"text": "a"\n', "broken.jsonl, line 1: not valid JSON"),
    ("table.csv", b"a,b\n", "a corpus is a .txt or .jsonl file"),
])
def test_bad_corpora_name_the_file_and_line(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        read_corpus(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="corpus file not found"):
        read_corpus(tmp_path / "missing.txt")


def random_documents(rng, count=40):
    """Documents of random sentences of distinct token ids (so every token can be traced)."""
    next_id, documents = 0, []
    for _ in range(count):
        document = []
        for _ in range(int(rng.integers(1, 12))):
            length = int(rng.integers(1, 40)) if rng.random() > 0.05 else int(rng.integers(60, 300))
            document.append(list(range(next_id, next_id + length)))
            next_id += length
        documents.append(document)
    return documents


def test_packing_without_next_sentence_keeps_every_token_in_order_within_the_length():
    documents = random_documents(np.random.default_rng(0))
    packed = pack_documents(documents, max_length=64, seed=1)
    assert all(1 <= len(p.first) <= 62 and p.second == [] for p in packed)  # [CLS] .. [SEP]
    assert all(p.next_sentence_label == NO_NEXT_SENTENCE_LABEL for p in packed)
    tokens = [t for p in packed for t in p.first]
    assert tokens == [t for d in documents for s in d for t in s]  # nothing lost or reordered
    # Packed, not a sentence per sequence: close to the fewest sequences that could hold
    # each document (10 % of sequences aim shorter on purpose).
    fewest = sum(-(-sum(len(s) for s in d) // 62) for d in documents)
    assert len(packed) <= 1.25 * fewest and len(packed) < 0.7 * sum(len(d) for d in documents)
    assert pack_documents(documents, 64, seed=1) == packed  # a pure function of the seed


def test_packing_with_next_sentence_labels_true_and_random_halves():
    documents = random_documents(np.random.default_rng(1), count=300)
    owner = {t: d for d, document in enumerate(documents) for s in document for t in s}
    packed = pack_documents(documents, max_length=64, next_sentence=True, seed=2)
    assert all(len(p.first) >= 1 and len(p.second) >= 1 for p in packed)
    assert all(len(p.first) + len(p.second) <= 61 for p in packed)  # [CLS] A [SEP] B [SEP]
    # Documents of many short sentences: almost every chunk has two or more, and half
    # of those get a random B (a one-sentence chunk always does).
    many = [[[7] * int(n) for n in np.random.default_rng(d).integers(1, 10, 30)] for d in range(200)]
    labels = [p.next_sentence_label for p in pack_documents(many, 64, next_sentence=True, seed=3)]
    assert 0.45 < np.mean(np.equal(labels, RANDOM_NEXT)) < 0.56
    for p in packed:
        same = owner[p.first[0]] == owner[p.second[0]]
        if p.next_sentence_label == IS_NEXT:
            assert same and p.second[0] == p.first[-1] + 1  # B continues A
        else:
            assert not same
    # Every token of every document is in some A or true-next B (none dropped).
    used = {t for p in packed for t in p.first} | {
        t for p in packed if p.next_sentence_label == IS_NEXT for t in p.second}
    assert used == set(owner)


def test_next_sentence_needs_two_documents():
    with pytest.raises(ValueError, match="needs at least two documents; the corpus has 1"):
        pack_documents([[[1, 2, 3], [4, 5]], [[]]], max_length=16, next_sentence=True)
