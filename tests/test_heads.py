"""The pooling heads: what each pools, masking, serialization, and that they learn."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.layers.attention_pooling_head import AttentionPoolingHead
from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.layers.heads import POOLING_HEADS
from tfbert.layers.mean_pooling_head import MeanPoolingHead
from tfbert.layers.pooling_head import PoolingHead

ALL_HEADS = [ClsPoolingHead, AttentionPoolingHead, MeanPoolingHead]
TOKEN_HEADS = [AttentionPoolingHead, MeanPoolingHead]  # the heads that read every token


def encoder_outputs(seed=0, batch=4, seq=6, hidden=8):
    rng = np.random.default_rng(seed)
    return {
        "sequence_output": rng.normal(size=(batch, seq, hidden)).astype(np.float32),
        "pooled_output": rng.normal(size=(batch, hidden)).astype(np.float32),
    }


def copy_outputs(outputs):
    return {name: value.copy() for name, value in outputs.items()}


MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]])


def test_registry_names_every_head():
    assert POOLING_HEADS == {
        "cls": ClsPoolingHead, "attention": AttentionPoolingHead, "mean": MeanPoolingHead
    }
    assert all(issubclass(head, PoolingHead) for head in POOLING_HEADS.values())
    # The recipe tables check head names without importing Keras: the same names.
    from tfbert.tasks import sections

    assert sections.POOLING_HEADS == tuple(POOLING_HEADS)


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_logits_shape_and_dtype(head_class):
    logits = head_class(3, dropout=0.2)(encoder_outputs(), MASK)
    assert logits.shape == (4, 3) and logits.dtype == "float32"


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_serialization_round_trip(head_class):
    head = head_class(3, dropout=0.2, initializer_range=0.5, name="head")
    outputs = encoder_outputs()
    logits = head(outputs, MASK)
    config = keras.saving.serialize_keras_object(head)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is head_class
    assert clone.get_config() == head.get_config()
    assert (clone.num_outputs, clone.dropout, clone.initializer_range) == (3, 0.2, 0.5)
    clone(outputs, MASK)
    clone.set_weights(head.get_weights())
    np.testing.assert_allclose(clone(outputs, MASK), logits, atol=1e-6)


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_keras_file_round_trip(head_class, tmp_path):
    """Inside a model saved to .keras, as a task saves it."""
    sequence = keras.Input((None, 8), name="sequence_output")
    pooled = keras.Input((8,), name="pooled_output")
    mask = keras.Input((None,), dtype="int32", name="input_mask")
    logits = head_class(3)({"pooled_output": pooled, "sequence_output": sequence}, mask)
    model = keras.Model([sequence, pooled, mask], logits)
    outputs = encoder_outputs()
    inputs = [outputs["sequence_output"], outputs["pooled_output"], MASK]
    model.save(tmp_path / "head.keras")
    loaded = keras.models.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_reads_only_pooled_output_tells_the_truth(head_class):
    """The flag a task reads must match what the head does: a test that can fail."""
    head = head_class(2)
    outputs = encoder_outputs()
    changed = copy_outputs(outputs)
    changed["sequence_output"][:, 0] += 3.0  # every row has a real token 0
    moved = np.abs(np.asarray(head(changed, MASK)) - np.asarray(head(outputs, MASK))).max()
    assert head.reads_only_pooled_output == (head_class is ClsPoolingHead)
    if head.reads_only_pooled_output:
        assert moved == 0.0
    else:
        assert moved > 1e-4


@pytest.mark.parametrize("head_class", TOKEN_HEADS)
def test_padding_is_ignored(head_class):
    head = head_class(2)
    outputs = encoder_outputs()
    noisy = copy_outputs(outputs)
    noisy["sequence_output"][MASK == 0] = 1000.0  # garbage under the padding
    np.testing.assert_allclose(head(noisy, MASK), head(outputs, MASK), atol=1e-5)
    # ...but a real token's change does move the logits.
    moved = copy_outputs(outputs)
    moved["sequence_output"][1, 2] += 5.0  # row 1's last real token
    assert np.abs(np.asarray(head(moved, MASK)) - np.asarray(head(outputs, MASK)))[1].max() > 1e-4


def test_mean_pool_is_the_masked_mean():
    outputs = encoder_outputs()
    head = MeanPoolingHead(2)
    pooled = np.asarray(head.pool(outputs, MASK))
    sequence = outputs["sequence_output"]
    expected = [sequence[row, MASK[row] == 1].mean(axis=0) for row in range(len(MASK))]
    np.testing.assert_allclose(pooled, expected, rtol=1e-6, atol=1e-6)
    # A row with no real token pools to zeros rather than NaN.
    empty = np.asarray(head.pool(outputs, np.zeros_like(MASK)))
    np.testing.assert_array_equal(empty, np.zeros_like(empty))


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_mixed_precision_gives_float32_logits(head_class):
    outputs = encoder_outputs()
    head = head_class(3, initializer_range=0.5)
    expected = head(outputs, MASK)
    mixed = head_class(3, dtype="mixed_bfloat16")
    half = {name: tf.cast(value, "bfloat16") for name, value in outputs.items()}
    mixed(half, MASK)
    mixed.set_weights(head.get_weights())
    logits = mixed(half, MASK)
    assert logits.dtype == "float32"
    assert np.abs(np.asarray(expected)).max() > 0.1  # a comparison that can fail
    # Only the bfloat16 rounding of the inputs (about 3 significant digits) differs.
    np.testing.assert_allclose(logits, expected, atol=0.03)


@pytest.mark.parametrize("head_class", ALL_HEADS)
def test_head_loss_falls(head_class):
    keras.utils.set_random_seed(0)
    outputs = encoder_outputs(batch=16, seq=6)
    mask = np.ones((16, 6), np.int32)
    mask[::2, 4:] = 0
    labels = (outputs["pooled_output"][:, 0] + outputs["sequence_output"][:, :, 0].mean(1) > 0).astype(np.int32)
    head = head_class(2, dropout=0.0)
    optimizer = keras.optimizers.Adam(0.05)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, head(outputs, mask, training=True))
        grads = tape.gradient(loss, head.trainable_variables)
        optimizer.apply_gradients(zip(grads, head.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses
