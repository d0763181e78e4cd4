"""The SavedModel export: raw strings in, labels out, written atomically."""

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
