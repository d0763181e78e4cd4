"""BertDropout: Keras' Dropout with float32 noise and a select in training."""

import keras
import numpy as np
import pytest

from tfbert.layers.dropout import BertDropout


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_keeps_one_minus_rate_and_scales_what_it_keeps(dtype):
    layer = BertDropout(0.1, seed=3, dtype=dtype)
    x = keras.ops.ones((200, 500))
    y = layer(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == layer.compute_dtype
    y = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
    kept = y != 0
    # 100,000 draws: the kept share is 0.9 within 5 standard deviations (0.00095 each).
    assert abs(kept.mean() - 0.9) < 0.005
    np.testing.assert_allclose(y[kept], 1 / 0.9, rtol=1e-2 if "bfloat16" in dtype else 1e-6)


def test_identity_outside_training_and_fresh_masks_per_call():
    layer = BertDropout(0.5, seed=1)
    x = np.arange(1.0, 1001.0, dtype=np.float32).reshape(10, 100)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    first = keras.ops.convert_to_numpy(layer(x, training=True)) != 0
    second = keras.ops.convert_to_numpy(layer(x, training=True)) != 0
    assert (first != second).any()


def test_seeded_layers_repeat_and_gradients_follow_the_mask():
    import tensorflow as tf

    masks = []
    for _ in range(2):
        layer = BertDropout(0.3, seed=7)
        x = tf.ones((8, 64))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(y)
        gradient = tape.gradient(total, x).numpy()
        np.testing.assert_allclose(gradient, y.numpy())  # d(sum y)/dx = mask / (1 - rate)
        masks.append(y.numpy() != 0)
    np.testing.assert_array_equal(masks[0], masks[1])


def test_config_round_trip():
    layer = BertDropout(0.2, seed=5, name="drop")
    copy = BertDropout.from_config(layer.get_config())
    assert (copy.rate, copy.seed, copy.name) == (0.2, 5, "drop")
