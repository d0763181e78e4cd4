"""The bag-of-words baseline: every classification and regression recipe, the CLI, and
the comparison a training run prints."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from tfbert.evaluation.baseline import Baseline, comparison, is_mostly_cjk, run_baseline
from tfbert.recipe import load_recipe

RECIPES = ROOT / "recipes"


@pytest.mark.parametrize("recipe_name, metric, better_than", [
    ("sentiment", "accuracy", 0.6),        # 2 balanced classes: chance is 0.5
    ("intent", "accuracy", 0.3),           # multi-label: exact match
    ("paraphrase", "accuracy", 0.5),       # pairs
    ("pair_similarity", "spearman", 0.2),  # pairs, regression
])
def test_baseline_on_each_recipe_sample(tmp_path, recipe_name, metric, better_than):
    recipe = load_recipe(RECIPES / f"{recipe_name}.toml")
    result = run_baseline(recipe, tmp_path)
    assert result["dev"][metric] > better_than, result["dev"]
    assert result["seconds"] < 120
    written = json.loads((tmp_path / "baseline" / "metrics.json").read_text())
    assert written["dev"][metric] == pytest.approx(result["dev"][metric])
    assert ("pair" in result["model"]) == recipe.is_pair


def test_baseline_uses_the_splits_it_is_given(monkeypatch):
    """`tfbert train` hands the baseline the data BERT had (train after
    data.max_train_examples, dev as read): none of those files is read again."""
    recipe = load_recipe(RECIPES / "sentiment.toml")
    table = type(recipe.options)
    train = recipe.read_examples(recipe.data.train)
    dev = recipe.read_examples(recipe.data.dev)
    reads = []
    real_read = table.read_examples
    monkeypatch.setattr(table, "read_examples",
                        lambda self, path, *a, **k: reads.append(path) or real_read(self, path, *a, **k))
    result = run_baseline(recipe, read_splits={"train": train.select(range(60)), "dev": dev})
    assert reads == [] and result["train_examples"] == 60
    assert run_baseline(recipe)["train_examples"] == len(train) and len(reads) == 2


def test_no_baseline_for_token_tagging():
    assert run_baseline(load_recipe(RECIPES / "ner.toml")) is None


def test_cjk_text_gets_character_ngrams():
    assert is_mostly_cjk(["这部电影很好看", "服务态度差 bad"]) and not is_mostly_cjk(["a good film", "这"])
    texts = ["这部电影很好看", "非常好的酒店", "服务态度很差", "房间太脏了"] * 5
    baseline = Baseline("classification").fit(texts, None, np.array([1, 1, 0, 0] * 5))
    assert baseline.vectorizer.analyzer == "char"
    assert list(baseline.predict(["电影很好看", "太脏了"], None)) == [1, 0]


def test_regression_is_clipped_to_the_score_range():
    texts = [f"w{i} x" for i in range(20)]
    baseline = Baseline("regression", min_score=0.0, max_score=5.0).fit(
        texts, texts, np.linspace(-10, 10, 20))
    predicted = baseline.predict(texts, texts)
    assert predicted.min() >= 0.0 and predicted.max() <= 5.0


def test_comparison_warns_when_bert_is_not_above_it():
    recipe = load_recipe(RECIPES / "sentiment.toml")
    simple = {"model": "TF-IDF", "seconds": 0.5, "dev": {"accuracy": 0.90}, "test": {"accuracy": 0.80}}
    text = comparison(recipe, simple, {"dev": {"accuracy": 0.95}, "test": {"accuracy": 0.79}})
    dev_line, test_line = text.splitlines()[1:]
    assert "baseline 0.9000, BERT 0.9500 (+0.0500)" in dev_line and "WARNING" not in dev_line
    assert "(-0.0100)" in test_line and "WARNING: BERT is not above" in test_line


def test_cli_baseline(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "tfbert.cli", "baseline", str(RECIPES / "sentiment.toml"),
                          "--output", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "TF-IDF of word 1-2-grams + linear SVM" in ran.stdout and "dev accuracy: 0." in ran.stdout
    assert (tmp_path / "baseline" / "metrics.json").is_file()
    refused = subprocess.run([sys.executable, "-m", "tfbert.cli", "baseline", str(RECIPES / "ner.toml")],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "has no bag-of-words baseline" in refused.stderr
