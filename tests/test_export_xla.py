"""Exports whose encoder runs XLA-compiled on bucketed shapes (jit_compile=True).

The TF Serving runtime half (TF 2.20, v1 loader) is in tests/test_serving_compat.py.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401 (the served graph's tokenizer ops)

from tfbert.export import export_for_serving
from tfbert.export.deployment import XLA_FLAG, warmup_batches
from tfbert.inference.xla_buckets import length_buckets, run_single_rows_compiled
from tfbert.recipe import load_recipe
from tfbert.tasks import TextClassifier, TextRegressor
from tfbert.tasks.token_classifier import TokenClassifier
from tiny_models import assert_rows_match, spread, tiny

TEXTS = ["good movie", "", "bad " * 200, "the flight fare", "a very fine film", "not",
         "the plot was very poor and the film was not good at all", "weather"] * 3


def test_buckets():
    assert length_buckets(128) == [16, 32, 48, 64, 80, 96, 112, 128]
    assert length_buckets(100) == [16, 32, 48, 64, 80, 96, 100]
    assert length_buckets(512) == [16, 32, 48, 64, 80, 96, 112, 128, 192, 256, 320, 384, 448, 512]
    assert length_buckets(16) == [16]
    assert length_buckets(8) == [8]


def test_one_row_runs_compiled_padded_to_a_bucket_and_more_rows_run_plain():
    seen = []

    def model(name):
        def run(features):
            seen.append((name, tuple(features["input_ids"].shape)))
            # A per-row output that depends on every position: padding must not change it.
            return {"sum": tf.reduce_sum(features["input_ids"] * features["input_mask"], 1)}
        return run

    def run(ids):
        return run_single_rows_compiled(model("compiled"), model("plain"),
                                        {"input_ids": ids, "input_mask": tf.ones_like(ids)},
                                        lengths=[4, 8])

    one = tf.constant([[3, 1, 4, 1, 5]], tf.int32)
    np.testing.assert_array_equal(run(one)["sum"], [14])
    assert ("compiled", (1, 8)) in seen
    three = tf.constant(np.arange(3 * 5).reshape(3, 5) + 1, tf.int32)
    np.testing.assert_array_equal(run(three)["sum"], tf.reduce_sum(three, 1).numpy())
    assert ("plain", (3, 5)) in seen
    # Above every bucket, the length itself.
    seen.clear()
    run(tf.ones([1, 9], tf.int32))
    assert ("compiled", (1, 9)) in seen and ("compiled", (1, 8)) not in seen


@pytest.mark.parametrize("chunk_size", [4, None])
def test_compiled_export_answers_as_the_model(tmp_path, chunk_size):
    encoder, tokenizer = tiny()
    model = spread(TextClassifier(encoder, tokenizer, ["a", "b", "c"]))
    path = export_for_serving(model, tmp_path, "compiled", chunk_size=chunk_size, jit_compile=True)
    served = tf.saved_model.load(str(path)).signatures
    expected = model.predict(TEXTS)
    # One row per request: the compiled path; the whole list: chunks of several rows,
    # without XLA.
    one_by_one = np.concatenate([served["serving_default"](text=tf.constant([text]))["logits"]
                                 for text in TEXTS[:8]])
    np.testing.assert_allclose(one_by_one, expected["logits"][:8], atol=1e-5)
    assert_rows_match(one_by_one, expected["logits"][:8])
    answers = served["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(answers["logits"], expected["logits"], atol=1e-5)
    assert [x.decode() for x in answers["label"].numpy()] == expected["label"].tolist()
    assert served["serving_default"](text=tf.constant([], tf.string))["logits"].shape == (0, 3)
    features = model.tokenizer(TEXTS)
    by_ids = served["predict_ids"](**{name: tf.constant(features[name])
                                      for name in ("input_ids", "segment_ids", "input_mask")})
    np.testing.assert_allclose(by_ids["logits"], expected["logits"], atol=1e-5)


def test_compiled_pair_regressor(tmp_path):
    encoder, tokenizer = tiny()
    model = spread(TextRegressor(encoder, tokenizer, pair=True))
    path = export_for_serving(model, tmp_path, "pairs", jit_compile=True)
    first, second = TEXTS[:8], TEXTS[8:16][::-1]
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    scores = np.concatenate([served(text=tf.constant([a]), text_pair=tf.constant([b]))["score"]
                             for a, b in zip(first, second)])
    assert_rows_match(scores, model.predict((first, second))["score"])


def test_a_sequence_longer_than_the_position_table_is_an_error(tmp_path):
    encoder, tokenizer = tiny()  # max_position_embeddings 64
    model = spread(TextClassifier(encoder, tokenizer, ["a", "b"]))
    path = export_for_serving(model, tmp_path, "long", jit_compile=True)
    predict_ids = tf.saved_model.load(str(path)).signatures["predict_ids"]
    fits = tf.ones([1, 64], tf.int32)
    assert predict_ids(input_ids=fits, segment_ids=0 * fits, input_mask=fits)["logits"].shape == (1, 2)
    # XLA ignores asserts inside the compiled function: the check is made before it.
    too_long = tf.ones([1, 65], tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings=64"):
        predict_ids(input_ids=too_long, segment_ids=0 * too_long, input_mask=too_long)


def test_warmup_requests_cover_every_compiled_shape(tmp_path):
    encoder, tokenizer = tiny()  # max_length 32
    model = spread(TextClassifier(encoder, tokenizer, ["a", "b"]))
    path = export_for_serving(model, tmp_path, "warm", chunk_size=4, jit_compile=True)
    from tensorflow_serving.apis import prediction_log_pb2

    records = tf.data.TFRecordDataset(str(path / "assets.extra" / "tf_serving_warmup_requests"))
    shapes = set()
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        texts = [t.decode() for t in tf.make_ndarray(request.inputs["text"])]
        ids = model.tokenizer(texts)["input_ids"]
        shapes.add(tuple(ids.shape))
    # One row at lengths 16 and 32 (the tokenizer's maximum).
    assert {(1, 16), (1, 32)} <= shapes
    plain = export_for_serving(model, tmp_path, "plain")
    assert sum(1 for _ in tf.data.TFRecordDataset(
        str(plain / "assets.extra" / "tf_serving_warmup_requests"))) == 2
    pair_batches = warmup_batches([16], pair=True)[2:]
    # A pair of them fills the bucket of 16 (to within the odd position left over).
    assert tokenizer(pair_batches[0], pair_batches[0])["input_ids"].shape[1] in (15, 16)


def test_deployment_files_enable_xla_on_the_cpu_server(tmp_path):
    encoder, tokenizer = tiny()
    export_for_serving(TextClassifier(encoder, tokenizer, ["a", "b"]), tmp_path, "model")
    assert XLA_FLAG in (tmp_path / "serve.sh").read_text()
    compose = (tmp_path / "docker-compose.yml").read_text()
    assert compose.count(XLA_FLAG) == 2  # the GPU and the CPU service


def test_a_tagger_exports_with_xla_and_answers_as_the_model(tmp_path):
    """The tagger is exported by the same module with the same levers: one-row
    requests run its windows XLA-compiled (CRF decoding included), and every signature
    answers as the in-memory model."""
    encoder, tokenizer = tiny(max_length=8)  # sentences of more words than a window
    tags = ["O", "B-X", "I-X", "B-Y", "I-Y"]
    tagger = spread(TokenClassifier(encoder, tokenizer, tags), scale=1.0)
    path = export_for_serving(tagger, tmp_path, "tags", jit_compile=True)
    served = tf.saved_model.load(str(path)).signatures
    assert sorted(served) == ["predict_ids", "predict_words", "serving_default"]
    sentences = [text.split() for text in TEXTS if text.strip()][:10]
    expected = tagger.predict_words(sentences)["tags"]
    assert len({tag for row in expected for tag in row}) >= 3  # not one constant tag
    for words, gold in zip(sentences, expected):  # one row a request: the compiled path
        answer = served["predict_words"](words=tf.constant([words]))["tags"].numpy()[0]
        assert [tag.decode() for tag in answer] == gold
    texts = [" ".join(words) for words in sentences]
    by_text = served["serving_default"](text=tf.constant(texts))
    in_memory = tagger.predict(texts)
    assert by_text["entity_count"].numpy().tolist() == in_memory["entity_count"].tolist()
    assert sum(in_memory["entity_count"]) > 0
    recipe = tmp_path / "ner.toml"
    recipe.write_text('name = "ner"\ntask = "token_classification"\n[data]\ntrain = "t.txt"\n'
                      'dev = "d.txt"\nformat = "conll"\n[export]\nxla = true\n')
    assert load_recipe(recipe).export.xla
