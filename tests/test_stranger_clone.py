"""A stranger's clone: no ../shared beside it, and only a few minutes to spare.

What a clone without the benchmark datasets sees (tests that need them skip, naming
what is missing; CI turns such a skip into a failure), and that the fast tier's
bookkeeping in tests/conftest.py still names real files and tests.
"""

import ast
import os
import re

import pytest

import conftest
from conftest import ROOT, benchmark_data

TESTS = ROOT / "tests"
THIS_FILE = os.path.basename(__file__)  # its checks spell the names they look for


def outcome_of(call):
    """("skipped" | "failed" | "returned", message or value) of call()."""
    try:
        return "returned", call()
    except pytest.skip.Exception as skip:
        return "skipped", str(skip.msg)
    except pytest.fail.Exception as failure:
        return "failed", str(failure.msg)


def test_benchmark_data_gives_the_path_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "DATA", tmp_path)
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "dev.tsv").write_text("sentence\tlabel\n")
    monkeypatch.setenv("TFBERT_REQUIRE_BENCHMARK_DATA", "1")
    assert outcome_of(lambda: benchmark_data("sst2")) == ("returned", tmp_path / "sst2")
    assert outcome_of(lambda: benchmark_data("sst2/dev.tsv")) == ("returned", tmp_path / "sst2" / "dev.tsv")


@pytest.mark.parametrize("required, expected", [
    (None, "skipped"), ("", "skipped"), ("0", "skipped"), ("1", "failed"), ("true", "failed"),
])
def test_missing_benchmark_data_skips_or_fails_with_the_same_reason(tmp_path, monkeypatch, required,
                                                                     expected):
    monkeypatch.setattr(conftest, "DATA", tmp_path / "shared" / "data")  # not there
    if required is None:
        monkeypatch.delenv("TFBERT_REQUIRE_BENCHMARK_DATA", raising=False)
    else:
        monkeypatch.setenv("TFBERT_REQUIRE_BENCHMARK_DATA", required)
    kind, message = outcome_of(lambda: benchmark_data("conll2003/test.txt"))
    assert kind == expected
    assert message.startswith("needs ../shared/data/conll2003/test.txt (the benchmark datasets, "
                              "present in CI")
    assert str(tmp_path / "shared" / "data" / "conll2003" / "test.txt") in message
    assert ("TFBERT_REQUIRE_BENCHMARK_DATA is set" in message) == (expected == "failed")


def test_no_test_reads_the_benchmark_data_behind_benchmark_datas_back():
    """A test that opens ../shared/data itself raises FileNotFoundError on a clone
    without it (or skips silently, with a hand-made skipif): every test file either asks
    benchmark_data() for it."""
    offenders = []
    for path in sorted(set(TESTS.glob("test_*.py")) - {TESTS / THIS_FILE}):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imports_data = isinstance(node, ast.ImportFrom) and node.module == "conftest" and any(
                alias.name == "DATA" for alias in node.names)
            # ROOT.parent / "shared" / "data", or a literal "../shared/..." path
            builds_path = isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value == "shared" or node.value.startswith("../shared/"))
            if imports_data or builds_path:
                offenders.append(path.name)
                break
    assert offenders == [], f"read ../shared/data without benchmark_data(): {offenders}"


def test_tier_lists_name_existing_files_and_tests():
    """A renamed file or test must not fall silently from the slow tier into
    `make test-fast`."""
    missing = sorted(name for name in conftest.SLOW_FILES if not (TESTS / name).is_file())
    for key in sorted(conftest.SLOW_TESTS):
        file, test = key.split("::")
        path = TESTS / file
        names = set()
        if path.is_file():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if test not in names:
            missing.append(key)
    assert missing == []
    assert not {key.split("::")[0] for key in conftest.SLOW_TESTS} & conftest.SLOW_FILES


def test_slow_marker_is_registered_and_applied(request):
    markers = request.config.getini("markers")
    assert any(line.startswith("slow:") for line in markers)
    assert request.node.get_closest_marker("slow") is None  # this file is in the fast tier


def test_make_targets_and_ci():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_fast = re.search(r"^test-fast:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert test_fast and '-m "not slow"' in test_fast.group(1)
    # Both environments set up, then the whole suite, unfiltered.
    test = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert test, makefile
    lines = test.group(1).splitlines()
    assert re.fullmatch(r"\t\$\(MAKE\) .*\bsetup serving-venv", lines[0]), lines
    assert re.fullmatch(r"\t(TFBERT_SERVING_PYTHON=[^\n]*? )?\$\(PYTEST\)", lines[-1]), lines
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert "export TFBERT_REQUIRE_BENCHMARK_DATA=1" in ci
    assert ci[-1] == "make test" and ci.index("export TFBERT_REQUIRE_BENCHMARK_DATA=1") < len(ci) - 1
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
