"""BertLayerNorm: Keras' LayerNormalization with a written-out backward pass in training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.layers import layer_norm as layer_norm_module
from tfbert.layers.layer_norm import BertLayerNorm


def twin_layers(hidden=24, dtype=None):
    ours = BertLayerNorm(epsilon=1e-12, dtype=dtype)
    keras_own = keras.layers.LayerNormalization(epsilon=1e-12, dtype=dtype)
    for layer in (ours, keras_own):
        layer.build((None, None, hidden))
    gamma = tf.random.stateless_normal([hidden], seed=[5, 6])
    beta = tf.random.stateless_normal([hidden], seed=[7, 8])
    for layer in (ours, keras_own):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return ours, keras_own


def values_and_gradients(layer, x, weights, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        # A loss that weighs positions unequally, so every term of the gradient matters.
        loss = tf.reduce_sum(tf.cast(y, "float32") ** 2 * weights)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [tf.cast(t, "float32").numpy() for t in [y] + grads]


@pytest.mark.parametrize("training", [True, False])
def test_values_and_gradients_equal_keras_layer_normalization(training):
    ours, keras_own = twin_layers()
    x = tf.random.stateless_normal([3, 7, 24], seed=[1, 2]) * 4.0 + 2.0
    weights = tf.random.stateless_normal([24], seed=[3, 4])
    got = values_and_gradients(ours, x, weights, training)
    want = values_and_gradients(keras_own, x, weights, training)
    for name, a, b in zip(["output", "d_x", "d_gamma", "d_beta"], got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=name)
        assert np.abs(b).max() > 0.1, name  # a gradient that flows, not zeros


def test_mixed_bfloat16_inputs_compute_in_float32_and_return_bfloat16():
    ours, keras_own = twin_layers(dtype="mixed_bfloat16")
    x = tf.cast(tf.random.stateless_normal([2, 5, 24], seed=[1, 2]), "bfloat16")
    weights = tf.random.stateless_normal([24], seed=[3, 4])
    assert ours(x, training=True).dtype == tf.bfloat16
    got = values_and_gradients(ours, x, weights, True)
    want = values_and_gradients(keras_own, x, weights, True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=5e-2)


def test_training_takes_the_written_out_path_through_a_model(monkeypatch):
    calls = []
    real = layer_norm_module._normalize_with_gradient
    monkeypatch.setattr(layer_norm_module, "_normalize_with_gradient",
                        lambda *args: calls.append(1) or real(*args))
    inputs = keras.Input((None, 8))
    model = keras.Model(inputs, BertLayerNorm()(keras.layers.Dense(8)(inputs)))
    model(np.ones((1, 3, 8), np.float32), training=False)
    assert not calls
    model(np.ones((1, 3, 8), np.float32), training=True)  # training reaches the layer
    assert calls


def test_config_round_trip_and_bad_settings():
    layer = BertLayerNorm(epsilon=1e-7, name="norm")
    copy = BertLayerNorm.from_config(layer.get_config())
    assert copy.epsilon == 1e-7 and copy.name == "norm"
    with pytest.raises(ValueError, match="axis=1"):
        BertLayerNorm(axis=1)
    with pytest.raises(ValueError, match="rms_scaling=True"):
        BertLayerNorm(rms_scaling=True)
