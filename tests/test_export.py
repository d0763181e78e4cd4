"""The SavedModel export: raw strings in, labels out, written atomically."""

import collections
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from tfbert.export import export_for_serving, serving_copy
from tfbert.tasks import TextClassifier, TextRegressor
from tiny_models import assert_rows_match, spread, tiny

TEXTS = ["good movie", "bad", "a rather long sentence about nothing much at all", "",
         "the plot was very very bad " * 40, "awful film", "great fine plot"]
PAIRS = ["good movie", "good film", "x", "a plot", "fine", "very bad", "the weather"]


def served(path, texts, pairs=None, signature="serving_default"):
    inputs = {"text": tf.constant(texts)}
    if pairs is not None:
        inputs["text_pair"] = tf.constant(pairs)
    outputs = tf.saved_model.load(str(path)).signatures[signature](**inputs)
    return {key: value.numpy() for key, value in outputs.items()}


def assert_same_answers(served_outputs, predicted):
    """The served signature and in-process predict return the same dict: same keys,
    equal strings and ids, numbers within 1e-5 (rows checked distinct enough)."""
    assert sorted(served_outputs) == sorted(predicted)
    for key, expected in predicted.items():
        got = served_outputs[key]
        if expected.dtype == object:
            assert [x.decode() for x in got.ravel()] == expected.ravel().tolist(), key
        elif expected.dtype.kind in "biu":
            np.testing.assert_array_equal(got, expected, err_msg=key)
        else:
            assert_rows_match(got, expected)


def model_of_kind(kind):
    return spread({
        "single": lambda: TextClassifier(*tiny(0), ["neg", "pos", "mixed"]),
        "pair": lambda: TextClassifier(*tiny(1), ["different", "same", "related"], pair=True,
                                       head="attention"),
        "multi_label": lambda: TextClassifier(*tiny(2), ["fare", "flight", "meal", "city"],
                                              multi_label=True, head="mean", threshold=0.3),
        "regression": lambda: TextRegressor(*tiny(3), pair=True),
    }[kind]())


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    """(model, path): the single-text classifier, exported once with the defaults, for
    the tests that only read an export."""
    model = model_of_kind("single")
    return model, export_for_serving(model, tmp_path_factory.mktemp("models"), "sentiment")


@pytest.mark.parametrize("kind", ["single", "pair", "multi_label", "regression"])
def test_predict_and_the_served_signature_give_the_same_answers(tmp_path, kind, sentiment):
    model = model_of_kind(kind) if kind != "single" else sentiment[0]
    path = (export_for_serving(model, tmp_path, kind, deployment_files=False) if kind != "single"
            else sentiment[1])
    pairs = PAIRS if model.pair else None
    predicted = model.predict(TEXTS if pairs is None else (TEXTS, pairs))
    assert_same_answers(served(path, TEXTS, pairs), predicted)
    if kind == "multi_label":  # the decision differs between rows: it is really compared
        assert len({tuple(row) for row in predicted["labels"].tolist()}) > 1


def test_the_comparison_fails_for_swapped_rows_and_constant_answers(sentiment):
    """The property the export tests rely on: with spread weights, an export that
    answered one row with another's answer, or everything alike, would be caught."""
    model, path = sentiment
    answers = served(path, TEXTS)
    expected = model.predict(TEXTS)["probabilities"]
    assert_rows_match(answers["probabilities"], expected)
    swapped = answers["probabilities"][[1, 0, *range(2, len(TEXTS))]]
    constant = np.tile(answers["probabilities"][:1], (len(TEXTS), 1))
    for wrong in (swapped, constant):
        with pytest.raises(AssertionError):
            assert_rows_match(wrong, expected)
    # Unspread, every text gets about the same answer: such rows are refused as evidence.
    with pytest.raises(AssertionError, match="too alike"):
        assert_rows_match(expected, TextClassifier(*tiny(0), ["a", "b"]).predict(TEXTS)["probabilities"])


def test_classifier_export_serves_raw_text(sentiment):
    model, path = sentiment
    assert path == path.parent.parent / "sentiment" / "1"
    # float32 (the default) computes in float32: what the float16/bfloat16 checks tell apart.
    assert serving_copy(model, "float32").encoder.compute_dtype == "float32"
    assert {dtype for _, dtype in matmul_dtypes(path)} == {"DT_FLOAT"}
    assert [p.name for p in path.parent.iterdir()] == ["1"]  # no temp dir left
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    texts = ["good movie", "", "the plot was very very bad " * 40]
    # Invalid UTF-8 is read as what is valid in it (bad bytes become U+FFFD, then dropped).
    outputs = serve(text=tf.constant([t.encode() for t in texts] + [b"\xff\xfe good \xc3"]))
    expected = model.predict(texts + ["good"])
    assert_rows_match(outputs["probabilities"].numpy(), expected["probabilities"])
    assert [x.decode() for x in outputs["label"].numpy()] == expected["label"].tolist()
    assert outputs["label_id"].dtype == tf.int32 and outputs["logits"].dtype == tf.float32
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 3) and empty["label"].shape == (0,)


def test_versions_and_overwrite(tmp_path):
    model = spread(TextRegressor(*tiny()))
    first = export_for_serving(model, tmp_path, "sim")
    second = export_for_serving(model, tmp_path, "sim")
    assert (first.name, second.name) == ("1", "2")
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        export_for_serving(model, tmp_path, "sim", version=2)
    spread(model, seed=1)  # other weights: the overwritten version must answer with them
    export_for_serving(model, tmp_path, "sim", version=2, overwrite=True)
    scores = served(second, TEXTS[:4], PAIRS[:4])["score"]
    assert_rows_match(scores, model.predict((TEXTS[:4], PAIRS[:4]))["score"])


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


def test_every_signature_agrees_with_the_model(sentiment):
    model, path = sentiment
    tokenizer = model.tokenizer
    signatures = serving_signatures(path)
    assert sorted(signatures) == ["classify", "predict_ids", "serving_default"]
    texts = ["good movie", "bad", "a rather long sentence about nothing much at all"]
    expected = model.predict(texts)

    features = tokenizer(texts)
    by_ids = signatures["predict_ids"](**{k: tf.cast(v, tf.int32) for k, v in features.items()})
    assert_rows_match(by_ids["probabilities"].numpy(), expected["probabilities"])
    assert [x.decode() for x in by_ids["label"].numpy()] == expected["label"].tolist()

    classified = signatures["classify"](inputs=example_batch(texts))
    assert_rows_match(classified["scores"].numpy(), expected["probabilities"])
    assert classified["classes"].numpy().tolist() == [[b"neg", b"pos", b"mixed"]] * 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="Could not parse example input"):
        signatures["classify"](inputs=tf.constant([b"not a tf.Example"]))
    without_text = tf.train.Example(features=tf.train.Features(feature={
        "sentence": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"good"]))}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature: text .* is required"):
        signatures["classify"](inputs=tf.constant([without_text.SerializeToString()]))


def test_regressor_and_pair_signatures(tmp_path):
    encoder, tokenizer = tiny()
    model = spread(TextRegressor(encoder, tokenizer, pair=True, min_score=-1.0, max_score=1.0))
    path = export_for_serving(model, tmp_path, "similarity")
    signatures = serving_signatures(path)
    assert sorted(signatures) == ["predict_ids", "regress", "serving_default"]
    first, second = TEXTS[:6], PAIRS[:6]
    raw = model(tokenizer(first, second), training=False).numpy()[:, 0]  # one padded batch
    expected = model.predict((first, second))["score"]
    np.testing.assert_allclose(expected, np.clip(raw, -1.0, 1.0), atol=1e-5)
    assert (expected > -1).any() and (expected < 1).any()  # not all clipped to one bound
    regressed = signatures["regress"](inputs=example_batch(first, second))["outputs"]
    np.testing.assert_allclose(regressed.numpy(), expected, atol=1e-5)
    unclipped = np.abs(expected) < 1
    assert_rows_match(regressed.numpy()[unclipped], expected[unclipped])
    answer = signatures["serving_default"](text=tf.constant(first), text_pair=tf.constant(second))
    np.testing.assert_allclose(answer["score"].numpy(), expected, atol=1e-5)


def label_frequencies(frequencies, rows=1000):
    """Multi-hot targets in which label j occurs in a `frequencies[j]` share of rows."""
    return (np.arange(rows)[:, None] < np.asarray(frequencies)[None, :] * rows).astype(np.float32)


def test_multi_label_outputs(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["fare", "flight", "meal"], multi_label=True,
                           threshold=0.5)
    # Fix the decision through the label priors: "fare" and "flight" far over the
    # threshold, "meal" far under, for any text.
    model.initialize_from_targets(label_frequencies([0.95, 0.88, 0.05]))
    path = export_for_serving(model, tmp_path, "intent")
    outputs = served(path, ["fare of a flight", ""])
    assert outputs["labels"].tolist() == [[b"fare", b"flight", b""]] * 2
    assert outputs["label"].tolist() == [b"fare"] * 2  # the most likely one
    assert outputs["over_threshold"].tolist() == [[True, True, False]] * 2
    assert outputs["label_id"].tolist() == [0, 0]
    model.initialize_from_targets(label_frequencies([0.05, 0.12, 0.02]))  # none over: the best
    outputs = served(export_for_serving(model, tmp_path, "intent"), ["x"])
    assert outputs["labels"].tolist() == [[b"", b"flight", b""]]
    assert outputs["over_threshold"].tolist() == [[False, False, False]]


def test_label_names_are_read_from_the_asset(tmp_path, sentiment):
    model, exported = sentiment
    path = pathlib.Path(shutil.copytree(exported, tmp_path / "sentiment" / "1"))
    assert (path / "assets" / "labels.txt").read_text() == "neg\npos\nmixed\n"
    assert (path / "assets" / "vocab.txt").read_text().splitlines() == model.tokenizer.vocabulary
    # A renamed label in the asset file is what the graph answers with.
    (path / "assets" / "labels.txt").write_text("negative\npositive\nmixed up\n")
    labels = serving_signatures(path)["classify"](inputs=example_batch(["x"]))["classes"]
    assert labels.numpy().tolist() == [[b"negative", b"positive", b"mixed up"]]


MATMULS = ("MatMul", "BatchMatMulV2", "BatchMatMulV3")


def matmul_dtypes(path):
    """How many matrix products of each (op, dtype) the SavedModel's graph holds (its
    functions included): {("MatMul", "DT_HALF"): n, ...}."""
    saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    counts = collections.Counter()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        for node in [*graph.node, *(node for f in graph.library.function for node in f.node_def)]:
            if node.op in MATMULS:
                counts[node.op, types_pb2.DataType.Name(node.attr["T"].type)] += 1
    return counts


def check_computes_in(path, dtype):
    """The served graph's attention products are all in `dtype` (DT_HALF, DT_BFLOAT16),
    and so are its dense layers', but for the task's own float32 output layer."""
    counts = matmul_dtypes(path)
    assert counts["BatchMatMulV2", dtype] > 0, counts
    assert counts["BatchMatMulV2", "DT_FLOAT"] == 0, counts
    # Per signature: 9 dense products of the encoder (Q, K, V, output, two FFN per
    # block, the pooler) in `dtype`, one float32 product (the classifier's output).
    assert counts["MatMul", dtype] >= 8 * counts["MatMul", "DT_FLOAT"] > 0, counts
    assert set(counts) <= {(op, dt) for op in MATMULS for dt in (dtype, "DT_FLOAT")}, counts


def test_float16_export_keeps_float32_interface(tmp_path):
    model = spread(TextClassifier(*tiny(), ["neg", "pos", "mixed"]))
    copy = serving_copy(model, "float16")
    assert copy.encoder.dtype_policy.name == "mixed_float16" and copy.encoder.compute_dtype == "float16"
    path = export_for_serving(model, tmp_path, "gpu", compute_dtype="float16")
    check_computes_in(path, "DT_HALF")  # not float32 products with float16 only in the name
    outputs = served(path, TEXTS)
    assert outputs["probabilities"].dtype == outputs["logits"].dtype == np.float32
    expected = model.predict(TEXTS)
    assert_rows_match(outputs["probabilities"], expected["probabilities"], atol=5e-3)
    # Close to float32's answers, but not float32's: float16 rounding shows in them.
    assert np.abs(outputs["logits"] - expected["logits"]).max() > 1e-5
    with pytest.raises(ValueError, match="compute_dtype 'int8'"):
        export_for_serving(model, tmp_path, "gpu", compute_dtype="int8")


def test_bfloat16_export_stores_bfloat16_weights_and_keeps_float32_interface(tmp_path):
    model = spread(TextClassifier(*tiny(), ["neg", "pos", "mixed"]))
    copy = serving_copy(model, "bfloat16")
    assert copy.encoder.dtype_policy.name == "bfloat16" and copy.encoder.compute_dtype == "bfloat16"
    path = export_for_serving(model, tmp_path, "cpu", compute_dtype="bfloat16")
    check_computes_in(path, "DT_BFLOAT16")
    loaded = tf.saved_model.load(str(path))
    # Weights stored in bf16: no per-request casts of float32 variables, half the size.
    # (The task's own output layer, kernel [H, 3] and bias [3], stays float32 as the
    # model built it; names vary with how many models the process made, shapes do not.)
    encoder_weights = [variable for variable in loaded.variable_values
                       if variable.dtype.is_floating and variable.shape[-1] != 3]
    assert len(encoder_weights) > 20
    assert {variable.dtype for variable in encoder_weights} == {tf.bfloat16}
    outputs = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    assert outputs["probabilities"].dtype == tf.float32
    # bfloat16 keeps 8 bits of mantissa: logits of a few units move by up to ~0.07 here;
    # the texts' logits are further apart than twice that, so a mix-up still shows.
    expected = model.predict(TEXTS)["logits"]
    assert_rows_match(outputs["logits"].numpy(), expected, atol=0.1)
    assert outputs["logits"].dtype == tf.float32
    assert np.abs(outputs["logits"].numpy() - expected).max() > 1e-4  # bfloat16's rounding shows


def test_length_sorted_chunks_answer_as_one_padded_batch(tmp_path):
    model = spread(TextClassifier(*tiny(), ["neg", "pos", "mixed"]))
    texts = tf.constant(["a", "good movie " * 9, "", "bad", "the plot was bad " * 5,
                         "fine", "x y z", "very very very good"])
    answers = {}
    for chunk_size in (None, 3):
        path = export_for_serving(model, tmp_path, f"chunks{chunk_size}", chunk_size=chunk_size,
                                  deployment_files=False)
        answers[chunk_size] = serving_signatures(path)["serving_default"](text=texts)
    # 8 texts in chunks of 3: two full chunks and a short one (other sizes: test_inference_engine.py).
    assert_rows_match(answers[3]["logits"].numpy(), answers[None]["logits"].numpy())
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


def test_saved_model_cli_lists_signatures(sentiment):
    path = sentiment[1]
    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--dir", str(path), "--all"], capture_output=True,
                           text=True, check=True).stdout
    for name in ("serving_default", "predict_ids", "classify"):
        assert f"signature_def['{name}']" in shown
    assert "Method name is: tensorflow/serving/classify" in shown
    default = shown.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
    assert "outputs['label_id'] tensor_info:\n        dtype: DT_INT32" in default
    assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)" in default
    ids = shown.split("signature_def['predict_ids']")[1].split("signature_def[")[0]
    assert "inputs['input_ids'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1)" in ids


def test_cli_export_from_a_run(tmp_path, capsys):
    from conftest import ROOT
    from tfbert import cli
    from tfbert.recipe import load_recipe
    from tfbert.run_directory import RunDirectory

    model = spread(TextClassifier(*tiny(), ["neg", "pos", "mixed"]))
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [f"export.dir={tmp_path / 'served'}",
                                                              f"output_dir={tmp_path / 'run'}"])
    run = RunDirectory(recipe.output_dir)
    run.start(recipe)
    run.save_task(model)

    assert cli.main(["export", str(run.path)]) == 0
    path = tmp_path / "served" / "sentiment" / "1"
    assert_rows_match(served(path, TEXTS)["probabilities"], model.predict(TEXTS)["probabilities"])
    assert cli.main(["export", str(run.path), "--name", "other", "--dir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "other" / "1" / "saved_model.pb").exists()
    capsys.readouterr()
    assert cli.main(["export", str(run.path), "--version", "1"]) == 1
    assert "sentiment/1 exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert cli.main(["export", str(run.path), "--version", "1", "--overwrite"]) == 0
    assert cli.main(["export", str(tmp_path / "nothing")]) == 1
    assert "is not a training run" in capsys.readouterr().err


def test_label_with_a_line_break_is_refused(tmp_path):
    encoder, tokenizer = tiny()
    model = TextClassifier(encoder, tokenizer, ["neg", "pos\nitive"])
    with pytest.raises(ValueError, match=r"label name 'pos\\nitive' contains a line break"):
        export_for_serving(model, tmp_path, "sentiment")
    assert not (tmp_path / "sentiment" / "1").exists()
    assert [p.name for p in (tmp_path / "sentiment").iterdir()] == []  # no staging left
