"""The tokenizer's whole-Unicode tables, computed once and read back from disk."""

import contextlib
import importlib.util
import json
import logging
import sys
import unicodedata

import pytest
import tensorflow as tf

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


# --- What the key is made of: a table is computed again when any part changes ----------
# The key is the TensorFlow version (TF's ICU lowercases), the Unicode version (Python's
# classes) and the source of the module that computes the table: each test changes
# one of them and expects a new table, then the old one read back once undone.

COMPUTING_SOURCE = """
CALLS = []


def compute():
    CALLS.append(1)
    return [1, 2]
"""


@pytest.fixture
def computing_module(tmp_path, monkeypatch):
    """A module of its own whose `compute` makes the table, so that its source file
    can be edited: (module, path)."""
    path = tmp_path / "tfbert_test_table_source.py"
    path.write_text(COMPUTING_SOURCE)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module, path


def check_key_changes_with(cache_dir, module, changed):
    """Inside `changed()` (a context manager) cached_table computes the table again,
    into a second file; outside it again, the first file is read back, not computed."""
    table = lambda: cached_table("table", module.compute, is_list)  # noqa: E731
    assert table() == table() == [1, 2]
    assert len(module.CALLS) == 1
    with changed():
        assert table() == [1, 2]
        assert len(module.CALLS) == 2, "the changed part is not in the key: the old table was read back"
        assert table() == [1, 2] and len(module.CALLS) == 2  # the new key's file, read back
        assert len(list(cache_dir.glob("table-*.json"))) == 2
    assert table() == [1, 2] and len(module.CALLS) == 2


def test_key_changes_with_the_tensorflow_version(cache_dir, computing_module, monkeypatch):
    module, _ = computing_module

    @contextlib.contextmanager
    def changed():
        with monkeypatch.context() as patch:
            patch.setattr(tf, "__version__", tf.__version__ + "+other")
            yield
    check_key_changes_with(cache_dir, module, changed)


def test_key_changes_with_the_unicode_version(cache_dir, computing_module, monkeypatch):
    module, _ = computing_module

    @contextlib.contextmanager
    def changed():
        with monkeypatch.context() as patch:
            patch.setattr(unicodedata, "unidata_version", "99.0.0")
            yield
    check_key_changes_with(cache_dir, module, changed)


def test_key_changes_with_the_source_that_computes_the_table(cache_dir, computing_module):
    """An edit of the file of `compute`'s module (a comment: the same table, the same
    module object) is a new key."""
    module, path = computing_module
    original = path.read_text()

    @contextlib.contextmanager
    def changed():
        path.write_text(original + "# an edit of the source\n")
        try:
            yield
        finally:
            path.write_text(original)
    check_key_changes_with(cache_dir, module, changed)
