"""A bag-of-words baseline on a recipe's own data: what BERT must beat.

    tfbert baseline RECIPE.toml        (and `tfbert train` runs it beside every run)

TF-IDF features with a linear model from scikit-learn, fit on the recipe's training
file in seconds and scored on its dev and test files with the same metrics as the
BERT run (tfbert/evaluation/metrics.py):
- words: TF-IDF of word 1-2-grams (sublinear tf); text where most letters are CJK
  ideographs, which has no spaces between words, gets character 1-3-grams instead;
- pairs: one vectorizer over both texts, and the features of a pair are
  [a, b, |a - b|, a * b] (the overlap is what a linear model can read);
- classification: a linear SVM (LinearSVC), one per label for multi-label (the best
  label when none is predicted, as the BERT classifier answers);
  regression: ridge regression, clipped to the task's [min_score, max_score].

Which targets and metrics a task kind's baseline has is the task's to say (a
`BaselinePlan`, from the pure-Python half of its postprocessor, tfbert/tasks/answers.py,
so that `tfbert baseline` never imports TensorFlow); token tagging and pretraining
have none.
"""

import dataclasses
import json
import pathlib
import time
from typing import Callable

import numpy as np
import scipy.sparse as sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from tfbert.text.cjk import is_cjk_ideograph

KINDS = ("classification", "regression")


@dataclasses.dataclass
class BaselinePlan:
    """What a task kind's baseline fits and how it is scored (`Answers.baseline_plan`).

    kind: "classification" (a linear SVM) or "regression" (ridge)
    train_targets: targets of the training examples (ids, multi-hot, or scores)
    encode: examples of a dev or test file -> (targets, indices of the kept examples)
    score: (targets, predictions) -> the metrics dict the BERT run reports
    """

    kind: str
    train_targets: np.ndarray
    encode: Callable
    score: Callable
    multi_label: bool = False
    min_score: float = -np.inf
    max_score: float = np.inf


def is_mostly_cjk(texts):
    """True when over half of the letters of `texts` are CJK ideographs."""
    letters = cjk = 0
    for text in texts[:2000]:
        for char in text:
            if char.isalpha():
                letters += 1
                cjk += is_cjk_ideograph(char)
    return letters > 0 and cjk / letters > 0.5


def make_vectorizer(texts):
    if is_mostly_cjk(texts):
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    return TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                           token_pattern=r"(?u)\b\w+\b")


class Baseline:
    """Vectorizer + linear model for one task kind; `fit` then `predict`."""

    def __init__(self, kind, multi_label=False, min_score=-np.inf, max_score=np.inf):
        if kind not in KINDS:
            raise ValueError(f"no baseline for task {kind!r} (only {', '.join(KINDS)}).")
        self.kind, self.multi_label = kind, multi_label
        self.min_score, self.max_score = min_score, max_score

    def features(self, texts, pairs):
        first = self.vectorizer.transform(texts)
        if pairs is None:
            return first
        second = self.vectorizer.transform(pairs)
        return sparse.hstack([first, second, abs(first - second), first.multiply(second)]).tocsr()

    def fit(self, texts, pairs, targets):
        self.vectorizer = make_vectorizer(list(texts) + list(pairs or []))
        self.vectorizer.fit(list(texts) + list(pairs or []))
        x = self.features(texts, pairs)
        if self.kind == "regression":
            self.model = Ridge(alpha=1.0)
        elif self.multi_label:
            self.model = OneVsRestClassifier(LinearSVC())
        else:
            self.model = LinearSVC()
        self.model.fit(x, targets)
        return self

    def predict(self, texts, pairs):
        x = self.features(texts, pairs)
        predicted = self.model.predict(x)
        if self.kind == "regression":
            return np.clip(predicted, self.min_score, self.max_score)
        if self.multi_label:
            # As the BERT classifier answers: the best label when none is over the line.
            none = predicted.sum(axis=1) == 0
            best = self.model.decision_function(x).argmax(axis=1)
            predicted[none, best[none]] = 1
        return predicted


def run_baseline(recipe, output_dir=None, read_splits=None):
    """Fits the baseline on recipe.data.train and scores it on dev and test.

    Returns {"model": description, "seconds", "dev": metrics, "test": metrics} (splits
    the recipe has), or None for a task kind without a baseline. With `output_dir`,
    writes it to output_dir/baseline/metrics.json. read_splits: {"train"|"dev"|"test":
    TextExamples} already read (as `tfbert train` has them, train after
    data.max_train_examples); the others are read from the recipe's paths.
    """
    started = time.perf_counter()
    read_splits = read_splits or {}
    paths = {"train": recipe.data.train, "dev": recipe.data.dev, "test": recipe.data.test}
    read = lambda split: (read_splits[split] if read_splits.get(split) is not None  # noqa: E731
                          else recipe.read_examples(paths[split]))
    train = None

    def read_train():
        nonlocal train
        train = read("train")
        return train

    plan = recipe.baseline_plan(read_train)
    if plan is None:
        return None
    baseline = Baseline(plan.kind, multi_label=plan.multi_label, min_score=plan.min_score,
                        max_score=plan.max_score)
    baseline.fit(train.texts, train.text_pairs, plan.train_targets)
    result = {"model": describe(baseline, train.text_pairs is not None), "train_examples": len(train)}
    for split, path in (("dev", recipe.data.dev), ("test", recipe.data.test)):
        if not path:
            continue
        examples = read(split)
        targets, kept = plan.encode(examples)
        texts = [examples.texts[i] for i in kept]
        pairs = None if examples.text_pairs is None else [examples.text_pairs[i] for i in kept]
        result[split] = plan.score(targets, baseline.predict(texts, pairs))
    result["seconds"] = time.perf_counter() - started
    if output_dir is not None:
        folder = pathlib.Path(output_dir) / "baseline"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(result, indent=2, default=float))
    return result


def describe(baseline, pair):
    analyzer = baseline.vectorizer.analyzer
    grams = "character 1-3-grams" if analyzer == "char" else "word 1-2-grams"
    model = "ridge regression" if baseline.kind == "regression" else "linear SVM"
    return f"TF-IDF of {grams}{' ([a, b, |a-b|, a*b] of the pair)' if pair else ''} + {model}"


def comparison(recipe, baseline_result, bert_result):
    """Lines saying how far the BERT run is above the baseline on each split, with a
    warning when it is not above it."""
    metric = recipe.training.eval_metric  # load_recipe fills in the task's own
    lines = [f"baseline ({baseline_result['model']}, {baseline_result['seconds']:.1f} s):"]
    for split in ("dev", "test"):
        if split not in baseline_result or split not in bert_result:
            continue
        simple, bert = baseline_result[split].get(metric), bert_result[split].get(metric)
        if simple is None or bert is None:
            continue
        line = f"  {split} {metric}: baseline {simple:.4f}, BERT {bert:.4f} ({bert - simple:+.4f})"
        if bert <= simple:
            line += "  WARNING: BERT is not above the bag-of-words baseline"
        lines.append(line)
    return "\n".join(lines)
