"""The proof that the task contract is real: a new kind of task, written here and not
in the package, trains from a recipe, evaluates, exports and predicts through
tfbert's own training, evaluation, export and command line, with no change to them.

The toy task spots a keyword: does the text contain it? It comes in the three parts
of every kind: a model with a head that scores every token; a preprocessor that makes
its Keras targets from its inputs inside tf.data (as the masked-LM task does) and
weights positive examples twice (the third element keras-hub's preprocessors
return); a postprocessor that turns logits into answers, rows and scores. It has a
recipe table of its own, [keyword_spotting].
"""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from conftest import write_tiny_checkpoint
from tfbert import cli
from tfbert.evaluate import evaluate_file
from tfbert.recipe import RecipeError, load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.tasks import Task, register_task
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.train import train

WORDS = "good bad film plot the was very not a fine great".split()


@dataclasses.dataclass
class KeywordSection:
    keyword: str = "good"

    def check(self):
        if not self.keyword or " " in self.keyword:
            raise ValueError(f"keyword must be one word, got {self.keyword!r}.")


class KeywordPreprocessor(Preprocessor):
    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        self.keyword_id = tokenizer.vocabulary.index(config["keyword"])

    def encode_targets(self, examples, on_unknown="error"):
        # Gold answers for evaluation, from the raw text.
        gold = np.array([self.config["keyword"] in text.lower().split() for text in examples.texts])
        return gold.astype(np.float32)[:, None], np.arange(len(examples)), 0

    def preprocess(self, features, targets):
        # Training targets made in the tf.data graph from the inputs themselves.
        has_keyword = tf.reduce_any(features["input_ids"] == self.keyword_id, axis=1)
        y = tf.cast(has_keyword, tf.float32)[:, None]                              # [B, 1]
        return features, y, 1.0 + y[:, 0]                                          # (x, y, weight)


class KeywordPostprocessor(Postprocessor):
    def postprocess(self, logits, assets):
        probability = tf.sigmoid(logits[:, 0])
        return {"has_keyword": probability > 0.5, "probability": probability}

    def prediction_rows(self, outputs, top_k=None):
        return [{"has_keyword": bool(has), "probability": round(float(p), 6)}
                for has, p in zip(outputs["has_keyword"], outputs["probability"])]

    def score_outputs(self, targets, outputs):
        gold = targets[:, 0] > 0.5
        accuracy = float(np.mean(gold == outputs["has_keyword"]))
        rows = [{"gold": bool(g), **row} for g, row in zip(gold, self.prediction_rows(outputs))]
        return {"accuracy": accuracy}, rows


@register_task("keyword_spotting")
@keras.saving.register_keras_serializable(package="tests")
class KeywordSpotter(Task):
    """encoder -> a score per token -> the best token's score: one logit per text."""

    recipe_section = KeywordSection
    default_eval_metric = "accuracy"
    preprocessor_class = KeywordPreprocessor
    postprocessor_class = KeywordPostprocessor

    def __init__(self, encoder, tokenizer, keyword="good", pair=False, dropout=0.1, **kwargs):
        super().__init__(encoder, tokenizer, pair=pair, **kwargs)
        self.keyword = keyword
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.token_score = keras.layers.Dense(1, dtype="float32", name="token_score")
        self.build_from_tokens()

    def call(self, inputs, training=None):
        sequence = self.encoder(inputs, training=training)["sequence_output"]     # [B, T, H]
        sequence = self.dropout_layer(ops.cast(sequence, "float32"), training=training)
        scores = self.token_score(sequence)[..., 0]                                # [B, T]
        padding = 1.0 - ops.cast(inputs["input_mask"], "float32")
        return ops.max(scores + padding * -10000.0, axis=1, keepdims=True)        # [B, 1]

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        return cls(keyword=section.keyword, **common)

    def default_loss(self):
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def default_metrics(self):
        return [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]

    def plain_config(self):
        return {**super().plain_config(), "keyword": self.keyword, "dropout": self.dropout}


def sentences(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(2, 7))) for _ in range(count)]


@pytest.fixture(scope="module")
def keyword_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keywords")
    for split, count, seed in (("train", 240, 0), ("dev", 60, 1)):
        (folder / f"{split}.tsv").write_text("text\n" + "\n".join(sentences(count, seed)) + "\n")
    checkpoint = write_tiny_checkpoint(folder / "tiny", WORDS)
    (folder / "keywords.toml").write_text(f"""
name = "keywords"
task = "keyword_spotting"
checkpoint = "{checkpoint}"
output_dir = "run"

[data]
train = "train.tsv"
dev = "dev.tsv"
text_column = "text"
label_column = ""

[keyword_spotting]
keyword = "good"

[training]
epochs = 4
batch_size = 16
learning_rate = 3e-3
patience = 0

[export]
dir = "served"
""")
    recipe = load_recipe(folder / "keywords.toml")
    return train(recipe), recipe, folder


def test_a_new_task_kind_trains_from_a_recipe(keyword_run):
    result, recipe, _ = keyword_run
    assert isinstance(recipe.options, KeywordSection) and recipe.options.keyword == "good"
    assert result["steps_run"] == result["steps"] == 4 * 15  # 240 texts, batches of 16
    # A random tiny BERT learns to spot the word: the targets made in tf.data are right.
    assert result["dev"]["accuracy"] >= 0.9, result["dev"]
    rows = [json.loads(line) for line in
            (RunDirectory(recipe.output_dir).evaluation_dir("dev") / "predictions.jsonl").open()]
    assert len(rows) == 60 and sum(row["gold"] == row["has_keyword"] for row in rows) == round(
        60 * result["dev"]["accuracy"])
    assert all(row["gold"] == ("good" in row["text"].split()) for row in rows)


def test_a_new_task_kind_evaluates_exports_and_predicts(keyword_run, tmp_path):
    result, recipe, folder = keyword_run
    run = RunDirectory(recipe.output_dir)
    metrics, summary, _ = evaluate_file(run.path, folder / "dev.tsv", tmp_path / "report")
    assert metrics["accuracy"] == result["dev"]["accuracy"] and "accuracy" in summary

    task = run.load_task()
    assert isinstance(task, KeywordSpotter)
    texts = ["a good film", "the plot was bad", "", "good", "very very fine plot"]
    predicted = task.predict(texts)
    assert predicted["has_keyword"].tolist() == [True, False, False, True, False]
    served = tf.saved_model.load(result["export"]).signatures["serving_default"](text=tf.constant(texts))
    assert served["has_keyword"].numpy().tolist() == predicted["has_keyword"].tolist()
    np.testing.assert_allclose(served["probability"].numpy(), predicted["probability"], atol=1e-5)

    source = tmp_path / "texts.tsv"
    source.write_text("text\n" + "\n".join(texts[:2]) + "\n")
    assert cli.main(["predict", str(run.path), "--input", str(source),
                     "--output", str(tmp_path / "out.jsonl")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    assert [(row["line"], row["has_keyword"]) for row in lines] == [(2, True), (3, False)]


def test_a_new_task_kinds_table_is_checked(keyword_run):
    _, _, folder = keyword_run
    with pytest.raises(RecipeError, match=r"\[keyword_spotting\] keyword must be one word"):
        load_recipe(folder / "keywords.toml", ["keyword_spotting.keyword=two words"])
    with pytest.raises(RecipeError, match="unknown key 'keyword_spotting.word'; valid keys in "
                                          r"\[keyword_spotting\]: keyword"):
        load_recipe(folder / "keywords.toml", ["keyword_spotting.word=good"])
