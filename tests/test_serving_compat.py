"""Exports load and run in TF Serving's runtime, as TF Serving runs them.

A fine-tuned MiniLM classifier (and two tiny models for the pair regressor and the
multi-label outputs) are exported here with TF 2.21; then
tests/serving_compat/run_signatures.py, in a virtual environment with only
tensorflow==2.20.* and tensorflow-text==2.20.* (the runtime of the newest TF Serving
release; `make serving-venv` builds it), lists every op of each export, loads it with
the v1 loader and runs every signature by its SignatureDef tensor names in a Session.
"""

import base64
import json
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import FIXTURES, ROOT
from test_export import example_batch
from tfbert import BertEncoder, BertTokenizer
from tfbert.data.readers import read_examples
from tfbert.export import export_for_serving
from tfbert.tasks import TextClassifier, TextRegressor
from tiny_models import assert_rows_match, spread, tiny

SERVING_PYTHON = os.environ.get("TFBERT_SERVING_PYTHON", str(ROOT / ".venv-tf220" / "bin" / "python"))
RUNNER = ROOT / "tests" / "serving_compat" / "run_signatures.py"
SAMPLE = ROOT / "recipes" / "data" / "sentiment"
BROKEN_UTF8 = [b"\xff\xfe broken", b"caf\xc3", b"\xed\xa0\x80 surrogate"]


def hard_strings():
    entries = json.loads((FIXTURES / "hard_strings.json").read_text(encoding="utf-8"))["strings"]
    return [entry["text"] * entry.get("repeat", 1) for entry in entries]


def as_bytes(texts):
    """A string input for the job file (base64: keeps invalid UTF-8 and NUL bytes)."""
    items = [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]
    return {"dtype": "string", "base64": [base64.b64encode(item).decode() for item in items]}


def as_ints(array):
    return {"dtype": "int32", "values": np.asarray(array).astype(np.int32).tolist()}


def run_in_serving_runtime(tmp_path, models, inputs):
    if not os.path.exists(SERVING_PYTHON):
        pytest.fail(f"{SERVING_PYTHON} is missing: run `make serving-venv` (a venv with only "
                    "tensorflow==2.20.* and tensorflow-text==2.20.*) or set TFBERT_SERVING_PYTHON.")
    job = {"models": models, "inputs": inputs}
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TF's log says whether XLA compiled (result["log"])
    finished = subprocess.run([SERVING_PYTHON, str(RUNNER), str(tmp_path / "job.json"),
                               str(tmp_path / "result.npz")], capture_output=True, text=True,
                              env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr[-4000:]
    result = dict(np.load(tmp_path / "result.npz", allow_pickle=False))
    result["log"] = finished.stderr
    report = json.loads(str(result.pop("report")))
    assert report["tensorflow"].startswith("2.20.") and report["tensorflow_text"].startswith("2.20.")
    assert report["imported"] == []
    for key, ops in report["models"].items():
        assert ops["unregistered"] == [], f"{key}: ops TF Serving 2.20 cannot run: {ops['unregistered']}"
        # The op listing sees the tokenizer's TF Text ops: it really reads the graphs.
        assert "FastWordpieceTokenizeWithOffsets" in ops["tf_text_ops"], ops["tf_text_ops"]
    return result


@pytest.fixture(scope="module")
def fine_tuned_sentiment(minilm_dir):
    keras.utils.set_random_seed(0)
    model = TextClassifier(BertEncoder.from_pretrained(minilm_dir), BertTokenizer.from_pretrained(minilm_dir),
                           ["negative", "positive"])
    model.compile(optimizer=keras.optimizers.AdamW(5e-5))
    # The committed sample set: the test runs in any clone, with or without ../shared.
    train = read_examples(SAMPLE / "train.tsv", text_column="sentence", label_column="label")
    rows = ([i for i, label in enumerate(train.labels) if label == "negative"][:32]
            + [i for i, label in enumerate(train.labels) if label == "positive"][:32])
    model.fit([train.texts[i] for i in rows], [train.labels[i] for i in rows], batch_size=16,
              epochs=2, verbose=0)
    return model


def test_exports_run_in_tf_serving_runtime(tmp_path, fine_tuned_sentiment):
    model = fine_tuned_sentiment
    texts = read_examples(SAMPLE / "dev.tsv", text_column="sentence").texts + hard_strings()
    texts.sort(key=len)  # requests of similar lengths, as a batching client would send
    classifier_dir = export_for_serving(model, tmp_path / "models", "sentiment")
    features = model.tokenizer(texts[:64])

    encoder, tokenizer = tiny()
    regressor = spread(TextRegressor(encoder, tokenizer, pair=True))
    regressor_dir = export_for_serving(regressor, tmp_path / "models", "similarity", explain_steps=4)
    multi = spread(TextClassifier(tiny()[0], tokenizer, ["fare", "flight", "meal"], multi_label=True,
                                  threshold=0.5, head="mean", temperature=[0.5, 2.0, 3.0]))
    multi_dir = export_for_serving(multi, tmp_path / "models", "intent")
    rejecting = spread(TextClassifier(tiny()[0], tokenizer, ["fare", "flight"], reject_label="oos",
                                      temperature=1.7))  # calibrated: rejection reads it
    rejecting.reject_below = float(np.median(rejecting.predict(texts[:40])["probabilities"].max(-1)))
    rejecting_dir = export_for_serving(rejecting, tmp_path / "models", "rejecting", explain_steps=4)
    compiled = spread(TextClassifier(tiny()[0], tokenizer, ["fare", "flight", "meal"]))
    compiled_dir = export_for_serving(compiled, tmp_path / "models", "compiled", chunk_size=4,
                                      jit_compile=True)
    long_texts = spread(TextClassifier(*tiny(max_length=8), ["fare", "flight"], head="mean",
                                       long_text="windows", window_stride=3))
    long_texts_dir = export_for_serving(long_texts, tmp_path / "models", "long_texts")
    first = ["good movie", "", "bad " * 200, "the flight fare", "a very fine film"]
    second = ["good film", "x", "not bad", "weather", "awful plot"]

    inputs = {
        "texts": as_bytes(texts), "broken": as_bytes(BROKEN_UTF8), "none": as_bytes([]),
        "examples": as_bytes(example_batch(texts[:40]).numpy()),
        "input_ids": as_ints(features["input_ids"]),
        "segment_ids": as_ints(features["segment_ids"]),
        "input_mask": as_ints(features["input_mask"]),
        "first": as_bytes(first), "second": as_bytes(second),
        "pair_examples": as_bytes(example_batch(first, second).numpy()),
        "examples_texts": as_bytes(texts[:40]),
    }
    result = run_in_serving_runtime(tmp_path, [
        {"key": "sentiment", "dir": str(classifier_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "texts"}},
            {"signature": "predict_ids", "inputs": {k: k for k in ("input_ids", "segment_ids", "input_mask")}},
            {"signature": "classify", "inputs": {"inputs": "examples"}},
            {"signature": "serving_default", "inputs": {"text": "broken"}, "key": "broken"},
            {"signature": "serving_default", "inputs": {"text": "none"}, "key": "empty"},
        ]},
        {"key": "similarity", "dir": str(regressor_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "first", "text_pair": "second"}},
            {"signature": "regress", "inputs": {"inputs": "pair_examples"}},
            {"signature": "explain", "inputs": {"text": "first", "text_pair": "second"}},
        ]},
        {"key": "intent", "dir": str(multi_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "first"}}]},
        {"key": "rejecting", "dir": str(rejecting_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "examples_texts"}},
            {"signature": "explain", "inputs": {"text": "first"}}]},
        {"key": "long_texts", "dir": str(long_texts_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "examples_texts"}},
            {"signature": "serving_default", "inputs": {"text": "first"}, "key": "long_first"}]},
        {"key": "compiled", "dir": str(compiled_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "examples_texts"}, "batch_size": 1},
            {"signature": "serving_default", "inputs": {"text": "first"}, "batch_size": 1,
             "key": "compiled_spread"}]},
    ], inputs)

    # Chunks of 16 rows: the one 512-token text pads 15 others to its length, not 63.
    expected = model.predict(texts, batch_size=16)
    assert len(texts) == 100 + len(hard_strings())  # the sample set's dev rows
    served = "sentiment/serving_default/"
    np.testing.assert_allclose(result[served + "probabilities"], expected["probabilities"], atol=1e-5)
    np.testing.assert_allclose(result[served + "logits"], expected["logits"], atol=1e-5)
    # Rows far enough apart that a mix-up would show: the longest 40 texts that tokenize
    # differently (the sample set repeats some sentences).
    distinct = sorted(np.unique(expected["logits"].round(4), axis=0, return_index=True)[1])[-40:]
    assert_rows_match(result[served + "logits"][distinct], expected["logits"][distinct])
    assert [x.decode() for x in result[served + "label"]] == expected["label"].tolist()
    assert len(set(expected["label"])) == 2  # the fine-tuned model answers both ways
    np.testing.assert_array_equal(result[served + "label_id"], expected["label_id"])
    np.testing.assert_allclose(result["sentiment/predict_ids/probabilities"],
                               expected["probabilities"][:64], atol=1e-5)
    np.testing.assert_allclose(result["sentiment/classify/scores"], expected["probabilities"][:40], atol=1e-5)
    assert result["sentiment/classify/classes"].tolist() == [[b"negative", b"positive"]] * 40
    assert str(result["sentiment/classify/method_name"]) == "tensorflow/serving/classify"

    broken = result["broken/serving_default/probabilities"]
    assert broken.shape == (3, 2) and np.isfinite(broken).all()
    in_process = tf.saved_model.load(str(classifier_dir)).signatures["serving_default"]
    np.testing.assert_allclose(broken, in_process(text=tf.constant(BROKEN_UTF8))["probabilities"], atol=1e-5)
    assert result["empty/serving_default/probabilities"].shape == (0, 2)

    scores = regressor.predict((first, second))["score"]
    assert_rows_match(result["similarity/serving_default/score"], scores)
    assert_rows_match(result["similarity/regress/outputs"], scores)
    assert str(result["similarity/regress/method_name"]) == "tensorflow/serving/regress"

    predicted = multi.predict(first)
    assert_rows_match(result["intent/serving_default/probabilities"], predicted["probabilities"])
    served_labels = [[x.decode() for x in row] for row in result["intent/serving_default/labels"]]
    assert served_labels == predicted["labels"].tolist()
    assert len({tuple(row) for row in served_labels}) > 1  # the decisions differ between rows

    # The XLA export (one-row requests run compiled): compiled in the serving runtime's
    # Session, answers as the model.
    assert "Compiled cluster using XLA" in result["log"]
    np.testing.assert_allclose(result["compiled/serving_default/logits"],
                               compiled.predict(texts[:40])["logits"], atol=1e-5)
    assert_rows_match(result["compiled_spread/serving_default/logits"],
                      compiled.predict(first)["logits"])

    # Texts read in windows of 6 pieces (most of these are longer): as predict reads them.
    np.testing.assert_allclose(result["long_texts/serving_default/logits"],
                               long_texts.predict(texts[:40])["logits"], atol=1e-5)
    assert_rows_match(result["long_first/serving_default/logits"], long_texts.predict(first)["logits"])

    # The explain signatures (attributions by integrated gradients, gradients in the
    # graph) answer in the serving runtime as in this process.
    for key, path, inputs in (("similarity", regressor_dir, {"text": first, "text_pair": second}),
                              ("rejecting", rejecting_dir, {"text": first})):
        here = tf.saved_model.load(str(path)).signatures["explain"](
            **{name: tf.constant(value) for name, value in inputs.items()})
        assert np.isfinite(here["word_attribution"].numpy()).sum() > 10
        for name, value in here.items():
            if value.dtype == tf.string:
                assert result[f"{key}/explain/{name}"].tolist() == value.numpy().tolist(), name
            else:
                np.testing.assert_allclose(result[f"{key}/explain/{name}"], value.numpy(), atol=1e-5,
                                           err_msg=name)

    answered = rejecting.predict(texts[:40])
    assert 0 < answered["rejected"].sum() < 40  # the median splits the rows
    assert [x.decode() for x in result["rejecting/serving_default/label"]] == answered["label"].tolist()
    np.testing.assert_array_equal(result["rejecting/serving_default/rejected"], answered["rejected"])
    # The calibrated probabilities, softmax(logits / 1.7), not the model's own.
    np.testing.assert_allclose(result["rejecting/serving_default/probabilities"],
                               answered["probabilities"], atol=1e-5)
    raw = tf.nn.softmax(answered["logits"]).numpy()
    np.testing.assert_allclose(answered["probabilities"], tf.nn.softmax(answered["logits"] / 1.7), atol=1e-6)
    assert np.abs(raw - answered["probabilities"]).max() > 0.01


def tagging_words():
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "john", "paris", "lives", "in", "london", "the",
            "a", "b", "c", ".", ",", "高", "勇"]


def test_tagger_exports_run_in_tf_serving_runtime(tmp_path):
    """A CRF tagger and a joint intent + slots model answer raw text with entities,
    pre-split words and a client's window ids with tags in TF Serving's runtime, as they
    do in this process; one-row requests to the tagger run XLA-compiled (CRF included)."""
    from tfbert.data.tagged_pipeline import window_features
    from tfbert.data.tagged_readers import TaggedExamples
    from tfbert.tasks.intent_and_slots import IntentAndSlots
    from tfbert.tasks.token_classifier import TokenClassifier

    keras.utils.set_random_seed(0)
    tokenizer = BertTokenizer(tagging_words(), max_length=8)  # long texts take several windows
    sentences = [["john", "lives", "in", "paris"], ["the", "london", "a", "b", "c", "john"]]
    tags = [["B-PER", "O", "O", "B-LOC"], ["O", "B-LOC", "O", "O", "O", "B-PER"]]
    examples = TaggedExamples.given(sentences, tags, labels=["where", "who"])
    tagger = TokenClassifier(tiny()[0], tokenizer, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])
    joint = IntentAndSlots(tiny()[0], tokenizer, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"],
                           ["where", "who"], crf=False)
    for model in (tagger, joint):
        model.compile(optimizer=keras.optimizers.AdamW(1e-2))
        model.fit(examples, epochs=40, batch_size=2, verbose=0)
    texts = ["John lives in Paris.", "", "高勇 lives in London 😀, the a b c john paris paris",
             "JOHN  lives\tin Paris, a b c a b c a b c a b c john"]
    words = np.array([["john", "lives", "in", "paris", "", ""],
                      ["a", "b", "c", "a", "b", "john"]], dtype=object)
    # The tagger with the classifiers' levers: one-row requests run XLA-compiled.
    tagger_dir = export_for_serving(tagger, tmp_path / "models", "ner", jit_compile=True)
    joint_dir = export_for_serving(joint, tmp_path / "models", "slots")
    # What a client that tokenizes itself sends to predict_ids: the windows' features.
    windows = tagger.tokenize([list(filter(None, row)) for row in words], targets=False)
    ids = window_features(tokenizer, windows.windows)
    inputs = {"texts": as_bytes(texts), "broken": as_bytes(BROKEN_UTF8), "none": as_bytes([]),
              "words": {**as_bytes(words.ravel().tolist()), "shape": list(words.shape)},
              **{name: as_ints(ids[name]) for name in tagger.id_inputs()}}
    calls = [{"signature": "serving_default", "inputs": {"text": "texts"}, "batch_size": 100},
             {"signature": "predict_words", "inputs": {"words": "words"}, "batch_size": 100},
             {"signature": "predict_ids", "inputs": {name: name for name in tagger.id_inputs()}}]
    result = run_in_serving_runtime(tmp_path, [
        {"key": "ner", "dir": str(tagger_dir), "calls": [
            *calls, *({**call, "batch_size": 1, "key": "ner_one_row"} for call in calls),
            {"signature": "serving_default", "inputs": {"text": "broken"}, "key": "broken"},
            {"signature": "serving_default", "inputs": {"text": "none"}, "key": "empty"}]},
        {"key": "slots", "dir": str(joint_dir), "calls": calls},
    ], inputs)

    for key, model in (("ner", tagger), ("slots", joint)):
        expected = model.predict(texts)
        assert expected["entity_count"].sum() >= 4  # the models do find entities
        served = f"{key}/serving_default/"
        np.testing.assert_array_equal(result[served + "entity_count"], expected["entity_count"])
        for i, text in enumerate(texts):
            for k in range(expected["entity_count"][i]):
                start, end = result[served + "entity_start"][i, k], result[served + "entity_end"][i, k]
                entity = text.encode()[start:end].decode()
                assert entity == result[served + "entity_text"][i, k].decode()
                assert entity == expected["entity_text"][i, k]
                assert entity == text[expected["entity_start"][i, k]:expected["entity_end"][i, k]]
                assert result[served + "entity_type"][i, k].decode() == expected["entity_type"][i, k]
        in_process = model.predict(model.tokenize([list(filter(None, row)) for row in words],
                                                  targets=False))["tags"]
        served = [f"{key}/predict_words/tags", f"{key}/predict_ids/tags"]
        if key == "ner":
            served += ["ner_one_row/predict_words/tags", "ner_one_row/predict_ids/tags"]
            for name in ("entity_count", "entity_text", "entity_type"):
                np.testing.assert_array_equal(result[f"ner_one_row/serving_default/{name}"],
                                              result[f"ner/serving_default/{name}"])
        for name in served:  # each sentence fits one window: a window's tags are its words'
            assert [[t.decode() for t in row if t] for row in result[name]] == in_process, name
    assert "Compiled cluster using XLA" in result["log"]  # the one-row requests
    assert [x.decode() for x in result["slots/serving_default/intent"]] == \
        joint.predict(texts)["intent"].tolist()
    assert result["broken/serving_default/entity_count"].shape == (3,)
    assert result["empty/serving_default/entity_count"].shape == (0,)


def test_sentence_embedder_export_runs_in_tf_serving_runtime(tmp_path, minilm_dir):
    from tfbert.tasks.sentence_embedder import SentenceEmbedder

    reference = np.load(FIXTURES / "sentence_vectors_reference.npz")
    texts = [str(t) for t in reference["texts"]]
    model = SentenceEmbedder.from_pretrained(minilm_dir)
    export_dir = export_for_serving(model, tmp_path / "models", "search")
    result = run_in_serving_runtime(tmp_path, [
        {"key": "search", "dir": str(export_dir), "calls": [
            {"signature": "serving_default", "inputs": {"text": "texts"}},
            {"signature": "serving_default", "inputs": {"text": "none"}, "key": "empty"}]},
    ], {"texts": as_bytes(texts), "none": as_bytes([])})
    served = result["search/serving_default/embedding"]
    assert served.shape == (64, 384)
    # transformers + mean pooling + L2 normalisation (how the checkpoint is meant to be used)
    assert_rows_match(served, reference["vectors"], atol=1e-5)
    np.testing.assert_allclose(served, model.predict(texts)["embedding"], atol=1e-6)
    assert result["empty/serving_default/embedding"].shape == (0, 384)
