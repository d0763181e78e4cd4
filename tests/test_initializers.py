"""BERT's truncated-normal initializer, and loads that skip its random draws."""

import keras
import numpy as np
import pytest

from conftest import TINY_CONFIG, write_tiny_checkpoint
from tfbert import BertEncoder
from tfbert.models.checkpoint import CheckpointMismatchError
from tfbert.layers.initializers import weights_from_checkpoint


def embedding_table(encoder):
    return encoder.get_layer("embeddings").token_embedding.embeddings.numpy()


def test_fresh_encoder_draws_truncated_normals():
    table = embedding_table(BertEncoder(**TINY_CONFIG, initializer_range=0.05))
    assert 0.03 < table.std() < 0.05  # a normal of 0.05 cut at 2 stddevs: ~0.044
    assert np.abs(table).max() <= 2 * 0.05 + 1e-6


def test_encoder_built_in_the_scope_starts_at_zeros_and_keeps_its_range():
    with weights_from_checkpoint():
        encoder = BertEncoder(**TINY_CONFIG, initializer_range=0.05)
    for weight in encoder.weights:
        if "gamma" not in weight.path:  # LayerNorm's scales start at one
            assert not np.any(weight.numpy()), weight.path
    # The config still says how a fresh model draws: one rebuilt from it does.
    rebuilt = BertEncoder.from_config(encoder.get_config())
    assert 0.03 < embedding_table(rebuilt).std() < 0.05


def test_scope_ends_even_when_its_body_raises():
    with pytest.raises(RuntimeError), weights_from_checkpoint():
        raise RuntimeError("a load failed")
    assert embedding_table(BertEncoder(**TINY_CONFIG)).std() > 0.01


def test_from_pretrained_draws_nothing_and_loads_every_weight(tmp_path, monkeypatch):
    directory = write_tiny_checkpoint(tmp_path / "tiny", ["good", "bad"], seed=3)
    reference = BertEncoder.from_pretrained(directory).get_weights()

    draws = []
    original = keras.initializers.TruncatedNormal.__call__
    monkeypatch.setattr(keras.initializers.TruncatedNormal, "__call__",
                        lambda self, *a, **k: draws.append(a) or original(self, *a, **k))
    loaded = BertEncoder.from_pretrained(directory)
    assert draws == []
    for expected, actual in zip(reference, loaded.get_weights()):
        np.testing.assert_array_equal(actual, expected)
    assert np.any(embedding_table(loaded))
    assert loaded.initializer_range == 0.02  # heads added later draw at BERT's range

    # Outside the load, layers draw again.
    BertEncoder(**dict(TINY_CONFIG, num_layers=1))
    assert draws


def test_load_that_misses_weights_raises_rather_than_leaving_zeros(tmp_path):
    import json

    directory = write_tiny_checkpoint(tmp_path / "tiny", ["good", "bad"])
    config = json.loads((directory / "config.json").read_text())
    config["num_hidden_layers"] = 3  # the file holds two layers' weights
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointMismatchError, match="missing"):
        BertEncoder.from_pretrained(directory)
