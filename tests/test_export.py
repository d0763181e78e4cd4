"""The SavedModel export: raw strings in, labels out, written atomically."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from test_tasks import tiny
from tfbert.export import export_for_serving
from tfbert.tasks import TextClassifier, TextRegressor


def test_classifier_export_serves_raw_text(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    path = export_for_serving(model, tmp_path, "sentiment")
    assert path == tmp_path / "sentiment" / "1"
    assert [p.name for p in (tmp_path / "sentiment").iterdir()] == ["1"]  # no temp dir left
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    texts = ["good movie", "", "the plot was very very bad " * 40, "\xff\xfe broken utf-8"]
    outputs = serve(text=tf.constant([t.encode("utf-8", "surrogateescape") if isinstance(t, str) else t
                                      for t in texts[:3]] + [b"\xff\xfe broken utf-8"]))
    expected = model.predict(texts[:3])
    np.testing.assert_allclose(outputs["probabilities"].numpy()[:3], expected["probabilities"], atol=1e-5)
    assert [x.decode() for x in outputs["label"].numpy()[:3]] == expected["labels"]
    assert outputs["label_id"].dtype == tf.int32 and outputs["logits"].dtype == tf.float32
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2)


def test_versions_and_overwrite(tmp_path):
    encoder, tokenizer = tiny()
    model = TextRegressor(encoder, tokenizer)
    first = export_for_serving(model, tmp_path, "sim")
    second = export_for_serving(model, tmp_path, "sim")
    assert (first.name, second.name) == ("1", "2")
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        export_for_serving(model, tmp_path, "sim", version=2)
    export_for_serving(model, tmp_path, "sim", version=2, overwrite=True)
    serve = tf.saved_model.load(str(second)).signatures["serving_default"]
    scores = serve(text=tf.constant(["good"]), text_pair=tf.constant(["bad"]))["score"]
    np.testing.assert_allclose(scores.numpy(), model.predict((["good"], ["bad"]))["scores"], atol=1e-5)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "..", ".hidden"])
def test_bad_export_names(tmp_path, name):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    with pytest.raises(ValueError, match="export name"):
        export_for_serving(model, tmp_path, name)


def serving_signatures(path):
    return tf.saved_model.load(str(path)).signatures


def example_batch(texts, pairs=None):
    """Serialized tf.Examples, as TF Serving's Classify/Regress clients send them."""
    serialized = []
    for i, text in enumerate(texts):
        feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))}
        if pairs is not None:
            feature["text_pair"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[pairs[i].encode()]))
        serialized.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return tf.constant(serialized, tf.string)


def test_every_signature_agrees_with_the_model(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos", "mixed"])
    path = export_for_serving(model, tmp_path, "sentiment")
    signatures = serving_signatures(path)
    assert sorted(signatures) == ["classify", "predict_ids", "serving_default"]
    texts = ["good movie", "bad", "a rather long sentence about nothing much at all"]
    expected = model.predict(texts)

    features = tokenizer(texts)
    by_ids = signatures["predict_ids"](**{k: tf.cast(v, tf.int32) for k, v in features.items()})
    np.testing.assert_allclose(by_ids["probabilities"].numpy(), expected["probabilities"], atol=1e-5)
    assert [x.decode() for x in by_ids["label"].numpy()] == expected["labels"]

    classified = signatures["classify"](inputs=example_batch(texts))
    np.testing.assert_allclose(classified["scores"].numpy(), expected["probabilities"], atol=1e-5)
    assert classified["classes"].numpy().tolist() == [[b"neg", b"pos", b"mixed"]] * 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="Could not parse example input"):
        signatures["classify"](inputs=tf.constant([b"not a tf.Example"]))
    without_text = tf.train.Example(features=tf.train.Features(feature={
        "sentence": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good"]))}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature: text .* is required"):
        signatures["classify"](inputs=tf.constant([without_text.SerializeToString()]))


def test_regressor_and_pair_signatures(tmp_path):
    encoder, tokenizer = tiny()
    model = TextRegressor(encoder, tokenizer, pair=True, min_score=0.0, max_score=5.0)
    path = export_for_serving(model, tmp_path, "similarity")
    signatures = serving_signatures(path)
    assert sorted(signatures) == ["predict_ids", "regress", "serving_default"]
    first, second = ["a cat sat", "rain", ""], ["a cat sits", "sunshine today", "x"]
    expected = model.predict((first, second))["scores"]
    regressed = signatures["regress"](inputs=example_batch(first, second))["outputs"]
    np.testing.assert_allclose(regressed.numpy(), expected, atol=1e-5)
    served = signatures["serving_default"](text=tf.constant(first), text_pair=tf.constant(second))
    np.testing.assert_allclose(served["score"].numpy(), expected, atol=1e-5)


def test_multi_label_outputs(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["fare", "flight", "meal"], multi_label=True,
                           threshold=0.5)
    # Fix the decision: "fare" and "flight" far over the threshold, "meal" far under.
    model.head.output_dense.kernel.assign(np.zeros_like(model.head.output_dense.kernel.numpy()))
    model.head.output_dense.bias.assign([3.0, 2.0, -3.0])
    path = export_for_serving(model, tmp_path, "intent")
    outputs = serving_signatures(path)["serving_default"](text=tf.constant(["fare of a flight", ""]))
    assert outputs["label"].numpy().tolist() == [b"fare#flight"] * 2
    assert outputs["over_threshold"].numpy().tolist() == [[True, True, False]] * 2
    assert outputs["label_id"].numpy().tolist() == [0, 0]
    model.head.output_dense.bias.assign([-3.0, -2.0, -4.0])  # none over: the best one
    path = export_for_serving(model, tmp_path, "intent")
    outputs = serving_signatures(path)["serving_default"](text=tf.constant(["x"]))
    assert outputs["label"].numpy().tolist() == [b"flight"]


def test_label_names_are_read_from_the_asset(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    path = export_for_serving(model, tmp_path, "sentiment")
    assert (path / "assets" / "labels.txt").read_text() == "neg\npos\n"
    assert (path / "assets" / "vocab.txt").read_text().splitlines() == tokenizer.vocabulary
    # A renamed label in the asset file is what the graph answers with.
    (path / "assets" / "labels.txt").write_text("negative\npositive\n")
    labels = serving_signatures(path)["classify"](inputs=example_batch(["x"]))["classes"]
    assert labels.numpy().tolist() == [[b"negative", b"positive"]]


def test_float16_export_keeps_float32_interface(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    path = export_for_serving(model, tmp_path, "gpu", compute_dtype="float16")
    outputs = serving_signatures(path)["serving_default"](text=tf.constant(["good movie", "bad"]))
    assert outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(outputs["probabilities"].numpy(),
                               model.predict(["good movie", "bad"])["probabilities"], atol=5e-3)
    with pytest.raises(ValueError, match="compute_dtype 'int8'"):
        export_for_serving(model, tmp_path, "gpu", compute_dtype="int8")


def test_bfloat16_export_stores_bfloat16_weights_and_keeps_float32_interface(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    path = export_for_serving(model, tmp_path, "cpu", compute_dtype="bfloat16")
    loaded = tf.saved_model.load(str(path))
    # Weights stored in bf16: no per-request casts of float32 variables, half the size.
    # (The task's own output layer, kernel [H, 2] and bias [2], stays float32 as the
    # model built it; names vary with how many models the process made, shapes do not.)
    encoder_weights = [variable for variable in loaded.variable_values
                       if variable.dtype.is_floating and variable.shape[-1] != 2]
    assert len(encoder_weights) > 20
    assert {variable.dtype for variable in encoder_weights} == {tf.bfloat16}
    outputs = loaded.signatures["serving_default"](text=tf.constant(["good movie", "bad"]))
    assert outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(outputs["probabilities"].numpy(),
                               model.predict(["good movie", "bad"])["probabilities"], atol=2e-2)


def test_length_sorted_chunks_answer_as_one_padded_batch(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    texts = tf.constant(["a", "good movie " * 9, "", "bad", "the plot was bad " * 5,
                         "fine", "x y z", "very very very good"])
    answers = {}
    for chunk_size in (None, 3):
        path = export_for_serving(model, tmp_path, f"chunks{chunk_size}", chunk_size=chunk_size,
                                  deployment_files=False)
        answers[chunk_size] = serving_signatures(path)["serving_default"](text=texts)
    # 8 texts in chunks of 3: two full chunks and a short one (other sizes: test_length_sorted.py).
    np.testing.assert_allclose(answers[3]["logits"].numpy(), answers[None]["logits"].numpy(), atol=1e-5)
    assert answers[3]["label"].numpy().tolist() == answers[None]["label"].numpy().tolist()
    for bad in (0, -2, 2.5, "16", True):
        with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
            export_for_serving(model, tmp_path, "bad", chunk_size=bad)


def test_deployment_files(tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    encoder, tokenizer = tiny()
    export_for_serving(TextClassifier(encoder, tokenizer, ["neg", "pos"]), tmp_path, "sentiment")
    path = export_for_serving(TextRegressor(encoder, tokenizer), tmp_path, "similarity")
    config = (tmp_path / "models.config").read_text()
    assert config.count("config {") == 2
    assert 'base_path: "/models/sentiment"' in config and 'name: "similarity"' in config
    assert "model_version_policy { latest { num_versions: 1 } }" in config
    batching = (tmp_path / "batching_parameters.txt").read_text()
    assert "pad_variable_length_inputs: true" in batching and "allowed_batch_sizes: 128" in batching
    compose = (tmp_path / "docker-compose.yml").read_text()
    assert "tensorflow/serving:2.20.0-gpu" in compose and "tensorflow/serving:2.20.0\n" in compose
    assert os.access(tmp_path / "serve.sh", os.X_OK)

    # The warm-up records are PredictionLogs whose requests the export answers.
    records = tf.data.TFRecordDataset(str(path / "assets.extra" / "tf_serving_warmup_requests"))
    serve = serving_signatures(path)["serving_default"]
    sizes = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        assert request.model_spec.name == "similarity"
        inputs = {key: tf.make_ndarray(value) for key, value in request.inputs.items()}
        assert sorted(inputs) == ["text", "text_pair"]
        sizes.append(len(serve(**{k: tf.constant(v) for k, v in inputs.items()})["score"]))
    assert sizes == [1, 8]


def test_saved_model_cli_lists_signatures(tmp_path):
    encoder, tokenizer = tiny()
    path = export_for_serving(TextClassifier(encoder, tokenizer, ["neg", "pos"]), tmp_path, "s")
    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--dir", str(path), "--all"], capture_output=True,
                           text=True, check=True).stdout
    for name in ("serving_default", "predict_ids", "classify"):
        assert f"signature_def['{name}']" in shown
    assert "Method name is: tensorflow/serving/classify" in shown
    default = shown.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
    assert "outputs['label_id'] tensor_info:\n        dtype: DT_INT32" in default
    assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 2)" in default
    ids = shown.split("signature_def['predict_ids']")[1].split("signature_def[")[0]
    assert "inputs['input_ids'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1)" in ids


def test_cli_export_from_a_run(tmp_path, capsys):
    import json

    from conftest import ROOT
    from tfbert import cli
    from tfbert.recipe import load_recipe, recipe_to_dict

    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos"])
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"export.dir={tmp_path / 'served'}"])
    (run / "recipe.json").write_text(json.dumps(recipe_to_dict(recipe)))

    assert cli.main(["export", str(run)]) == 0
    path = tmp_path / "served" / "sentiment" / "1"
    outputs = serving_signatures(path)["serving_default"](text=tf.constant(["good movie"]))
    np.testing.assert_allclose(outputs["probabilities"].numpy(),
                               model.predict(["good movie"])["probabilities"], atol=1e-5)
    assert cli.main(["export", str(run), "--name", "other", "--dir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "other" / "1" / "saved_model.pb").exists()
    capsys.readouterr()
    assert cli.main(["export", str(run), "--version", "1"]) == 1
    assert "sentiment/1 exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert cli.main(["export", str(run), "--version", "1", "--overwrite"]) == 0
    assert cli.main(["export", str(tmp_path / "nothing")]) == 1
    assert "is not a training run" in capsys.readouterr().err


def test_label_with_a_line_break_is_refused(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos\nitive"])
    with pytest.raises(ValueError, match=r"label name 'pos\\nitive' contains a line break"):
        export_for_serving(model, tmp_path, "sentiment")
    assert not (tmp_path / "sentiment" / "1").exists()
    assert [p.name for p in (tmp_path / "sentiment").iterdir()] == []  # no staging left
