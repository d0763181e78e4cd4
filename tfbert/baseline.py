"""A bag-of-words baseline on a recipe's own data: what BERT must beat.

    tfbert baseline RECIPE.toml        (and `tfbert train` runs it beside every run)

TF-IDF features with a linear model from scikit-learn, fit on the recipe's training
file in seconds and scored on its dev and test files with the same metrics as the
BERT run (tfbert/metrics.py):
- words: TF-IDF of word 1-2-grams (sublinear tf); text where most letters are CJK
  ideographs, which has no spaces between words, gets character 1-3-grams instead;
- pairs: one vectorizer over both texts, and the features of a pair are
  [a, b, |a - b|, a * b] (the overlap is what a linear model can read);
- classification: a linear SVM (LinearSVC), one per label for multi-label (the best
  label when none is predicted, as the BERT classifier answers);
  regression: ridge regression, clipped to the task's [min_score, max_score].

Token tagging and pretraining have no baseline here (None).
"""

import json
import pathlib
import time

import numpy as np
import scipy.sparse as sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from tfbert.data.labels import LabelVocabulary, parse_scores
from tfbert.metrics import classification_metrics, multilabel_metrics, regression_metrics

KINDS = ("classification", "regression")
_CJK = (("\u4e00", "\u9fff"), ("\u3400", "\u4dbf"), ("\uf900", "\ufaff"))


def is_mostly_cjk(texts):
    """True when over half of the letters of `texts` are CJK ideographs."""
    letters = cjk = 0
    for text in texts[:2000]:
        for char in text:
            if char.isalpha():
                letters += 1
                cjk += any(first <= char <= last for first, last in _CJK)
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


def run_baseline(recipe, output_dir=None):
    """Fits the baseline on recipe.data.train and scores it on dev and test.

    Returns {"model": description, "seconds", "dev": metrics, "test": metrics} (splits
    the recipe has), or None for a task kind without a baseline. With `output_dir`,
    writes it to output_dir/baseline/metrics.json.
    """
    if recipe.task not in KINDS:
        return None
    started = time.perf_counter()
    options = recipe.options
    read = lambda path: recipe.task_class.read_examples(path, recipe.data, section=options)  # noqa: E731
    train = read(recipe.data.train)
    if recipe.task == "classification":
        vocabulary = LabelVocabulary.from_labels(train.labels, multi_label=options.multi_label,
                                                 separator=options.label_separator)
        baseline = Baseline("classification", multi_label=options.multi_label)
        targets, _ = vocabulary.encode(train)[:2]
        baseline.fit(train.texts, train.text_pairs, targets)
        if options.rejects and options.reject_label not in vocabulary.names:
            # Out-of-scope examples of dev and test are one more class, which a linear
            # model that cannot reject never predicts: scored as the BERT run scores them.
            vocabulary = LabelVocabulary(vocabulary.names + [options.reject_label])
        encode = lambda examples: vocabulary.encode(  # noqa: E731
            examples, on_unknown="skip" if recipe.data.on_unknown_label != "error" else "error")[:2]
    else:
        vocabulary = None
        encode = lambda examples: (parse_scores(examples), np.arange(len(examples)))  # noqa: E731
        baseline = Baseline("regression", min_score=options.min_score, max_score=options.max_score)
        targets, _ = encode(train)
        baseline.fit(train.texts, train.text_pairs, targets)
    result = {"model": describe(baseline, train.text_pairs is not None)}
    for split, path in (("dev", recipe.data.dev), ("test", recipe.data.test)):
        if not path:
            continue
        examples = read(path)
        targets, kept = encode(examples)
        texts = [examples.texts[i] for i in kept]
        pairs = None if examples.text_pairs is None else [examples.text_pairs[i] for i in kept]
        predicted = baseline.predict(texts, pairs)
        if recipe.task == "regression":
            result[split] = regression_metrics(targets, predicted)
        elif options.multi_label:
            result[split] = multilabel_metrics(targets > 0.5, predicted > 0.5, vocabulary.names)
        else:
            result[split] = classification_metrics(targets, predicted, vocabulary.names)
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
