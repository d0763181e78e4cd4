"""The tokenizer's whole-Unicode tables, computed once and read back from disk."""

import json
import logging

import pytest

from tfbert.text import lowercase_skew, tokenizer
from tfbert.text.unicode_cache import cached_table


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value
    return compute, calls


def is_list(value):
    return isinstance(value, list)


def test_computed_once_then_read_back(cache_dir):
    compute, calls = counting([1, 2, 3])
    assert cached_table("table", compute, is_list) == [1, 2, 3]
    assert cached_table("table", compute, is_list) == [1, 2, 3]
    assert len(calls) == 1
    (written,) = cache_dir.glob("table-*.json")
    assert json.loads(written.read_text()) == [1, 2, 3]


@pytest.mark.parametrize("content", ['[1, 2', '{"not": "a list"}', "\udcff"])
def test_a_damaged_file_is_computed_again_and_rewritten(cache_dir, caplog, content):
    compute, calls = counting([4, 5])
    cached_table("table", compute, is_list)
    (written,) = cache_dir.glob("table-*.json")
    written.write_text(content, encoding="utf-8", errors="surrogateescape")
    with caplog.at_level(logging.WARNING):
        assert cached_table("table", compute, is_list) == [4, 5]
    assert len(calls) == 2
    assert str(written) in caplog.text  # the warning names the file
    assert json.loads(written.read_text()) == [4, 5]


def test_an_unwritable_cache_only_costs_the_computing(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("TFBERT_CACHE_DIR", str(blocker / "cache"))  # under a file: unwritable
    compute, calls = counting([7])
    assert cached_table("table", compute, is_list) == [7]
    assert cached_table("table", compute, is_list) == [7]
    assert len(calls) == 2


def test_the_tokenizers_tables_read_back_equal_a_fresh_scan(cache_dir):
    try:
        for _ in range(2):  # computed and written, then read from the file
            tokenizer._character_classes.cache_clear()
            lowercase_skew._skewed_code_points.cache_clear()
            assert tokenizer._character_classes() == tokenizer._scan_character_classes()
            assert lowercase_skew._skewed_code_points() == lowercase_skew._scan_skewed_code_points()
        assert len(list(cache_dir.glob("*.json"))) == 2
    finally:
        tokenizer._character_classes.cache_clear()
        lowercase_skew._skewed_code_points.cache_clear()
