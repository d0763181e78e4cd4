"""Both heads: shapes, masking, serialization, and that they learn."""

import keras
import numpy as np
import pytest

from tfbert.layers.attention_pooling_head import AttentionPoolingHead
from tfbert.layers.cls_head import ClsPoolingHead


def encoder_outputs(seed=0, batch=4, seq=6, hidden=8):
    rng = np.random.default_rng(seed)
    return {
        "sequence_output": rng.normal(size=(batch, seq, hidden)).astype(np.float32),
        "pooled_output": rng.normal(size=(batch, hidden)).astype(np.float32),
    }


MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]])


@pytest.mark.parametrize("head_class", [ClsPoolingHead, AttentionPoolingHead])
def test_logits_shape_dtype_and_config(head_class):
    head = head_class(3, dropout=0.2)
    logits = head(encoder_outputs(), MASK)
    assert logits.shape == (4, 3) and logits.dtype == "float32"
    clone = head_class.from_config(head.get_config())
    assert clone.get_config() == head.get_config()


def test_attention_pooling_ignores_padding():
    head = AttentionPoolingHead(2)
    outputs = encoder_outputs()
    noisy = {k: v.copy() for k, v in outputs.items()}
    noisy["sequence_output"][MASK == 0] = 1000.0  # garbage under the padding
    np.testing.assert_allclose(head(noisy, MASK), head(outputs, MASK), atol=1e-5)
    # ...but a real token's change does move the logits (the test can fail).
    moved = {k: v.copy() for k, v in outputs.items()}
    moved["sequence_output"][1, 0] += 5.0
    assert np.abs(np.asarray(head(moved, MASK)) - np.asarray(head(outputs, MASK))).max() > 1e-4


def test_cls_head_uses_only_pooled_output():
    head = ClsPoolingHead(2)
    outputs = encoder_outputs()
    changed = dict(outputs, sequence_output=outputs["sequence_output"] * 3)
    np.testing.assert_allclose(head(changed, MASK), head(outputs, MASK))


@pytest.mark.parametrize("head_class", [ClsPoolingHead, AttentionPoolingHead])
def test_head_loss_falls(head_class):
    keras.utils.set_random_seed(0)
    outputs = encoder_outputs(batch=16, seq=6)
    mask = np.ones((16, 6), np.int32)
    labels = (outputs["pooled_output"][:, 0] + outputs["sequence_output"][:, :, 0].mean(1) > 0).astype(np.int32)
    head = head_class(2, dropout=0.0)
    optimizer = keras.optimizers.Adam(0.05)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    import tensorflow as tf

    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, head(outputs, mask, training=True))
        grads = tape.gradient(loss, head.trainable_variables)
        optimizer.apply_gradients(zip(grads, head.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses
