"""BertEncoder on tiny random weights: shapes, masking, serialization, precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_CONFIG
from tfbert import BertConfig, BertEncoder
from tfbert.layers.attention import attention_mask_bias


def random_batch(batch_size=3, seq_length=9, lengths=(9, 5, 2), seed=0):
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, TINY_CONFIG["vocab_size"], (batch_size, seq_length))
    input_mask = np.zeros((batch_size, seq_length), np.int32)
    for row, length in enumerate(lengths):
        input_mask[row, :length] = 1
    segment_ids = np.zeros_like(input_mask)
    segment_ids[0, 5:] = 1
    return {
        "input_ids": (input_ids * input_mask).astype(np.int32),
        "segment_ids": segment_ids * input_mask,
        "input_mask": input_mask,
    }


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(1)
    return BertEncoder(**TINY_CONFIG)


def test_mask_bias_is_additive_minus_10000():
    bias = attention_mask_bias(np.array([[1, 1, 0], [1, 0, 0]]))
    assert bias.shape == (2, 1, 1, 3)
    np.testing.assert_array_equal(
        np.asarray(bias)[:, 0, 0], [[0.0, 0.0, -10000.0], [0.0, -10000.0, -10000.0]]
    )


def test_output_shapes_follow_the_batch(encoder):
    for seq_length in (2, 9, 17):
        batch = random_batch(seq_length=seq_length, lengths=(seq_length, 2, 1))
        outputs = encoder(batch)
        assert outputs["sequence_output"].shape == (3, seq_length, 32)
        assert outputs["pooled_output"].shape == (3, 32)


def test_padding_does_not_change_real_tokens(encoder):
    batch = random_batch()
    padded = {name: np.pad(value, [(0, 0), (0, 7)]) for name, value in batch.items()}
    short = encoder(batch)
    long = encoder(padded)
    real = batch["input_mask"].astype(bool)
    np.testing.assert_allclose(
        np.asarray(long["sequence_output"])[:, :9][real],
        np.asarray(short["sequence_output"])[real], atol=1e-5,
    )
    np.testing.assert_allclose(long["pooled_output"], short["pooled_output"], atol=1e-5)


def test_masked_positions_are_ignored(encoder):
    """Changing the ids under padding must not move the real tokens' outputs."""
    batch = random_batch()
    noisy = dict(batch, input_ids=np.where(batch["input_mask"] == 1, batch["input_ids"], 7))
    np.testing.assert_allclose(
        np.asarray(encoder(noisy)["sequence_output"])[batch["input_mask"] == 1],
        np.asarray(encoder(batch)["sequence_output"])[batch["input_mask"] == 1], atol=1e-6,
    )


def test_mask_matters(encoder):
    """A test that could fail: without masking the outputs must differ."""
    batch = random_batch()
    unmasked = dict(batch, input_mask=np.ones_like(batch["input_mask"]))
    difference = np.abs(
        np.asarray(encoder(unmasked)["sequence_output"])[1, 0]
        - np.asarray(encoder(batch)["sequence_output"])[1, 0]
    ).max()
    assert difference > 1e-3


def test_dropout_only_in_training(encoder):
    batch = random_batch()
    a = encoder(batch, training=False)["pooled_output"]
    b = encoder(batch, training=False)["pooled_output"]
    np.testing.assert_array_equal(a, b)
    c = encoder(batch, training=True)["pooled_output"]
    assert np.abs(np.asarray(c) - np.asarray(a)).max() > 1e-4


def test_runs_in_tf_function_with_dynamic_length(encoder):
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[{"input_ids": spec, "segment_ids": spec, "input_mask": spec}])
    def forward(inputs):
        return encoder(inputs)["sequence_output"]

    for seq_length in (3, 11):
        batch = random_batch(seq_length=seq_length, lengths=(seq_length, 2, 1))
        np.testing.assert_allclose(forward(batch), encoder(batch)["sequence_output"], atol=1e-6)
    assert len(forward.get_concrete_function().graph.inputs) >= 3


def test_too_long_sequence_is_a_clear_error(encoder):
    batch = random_batch(seq_length=65, lengths=(65, 3, 1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings=64"):
        encoder(batch)


def test_config_round_trip(encoder):
    config = encoder.get_config()
    assert all(isinstance(v, (int, float, str, bool, dict, type(None))) for v in config.values())
    clone = BertEncoder.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(encoder.get_weights())
    batch = random_batch()
    np.testing.assert_allclose(clone(batch)["pooled_output"], encoder(batch)["pooled_output"], atol=1e-6)


def test_keras_file_save_and_load(encoder, tmp_path):
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BertEncoder)
    batch = random_batch()
    np.testing.assert_allclose(
        loaded(batch)["sequence_output"], encoder(batch)["sequence_output"], atol=1e-6
    )


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_policies(encoder, policy):
    mixed = BertEncoder(**TINY_CONFIG, dtype=policy)
    mixed.set_weights(encoder.get_weights())
    half = "bfloat16" if policy == "mixed_bfloat16" else "float16"
    assert mixed.dtype_policy.name == policy
    assert {weight.dtype for weight in mixed.weights} == {"float32"}  # variables stay float32
    # The policy survives serialization (a functional Model alone would drop it).
    assert BertEncoder.from_config(mixed.get_config()).dtype_policy.name == policy
    batch = random_batch()
    outputs = mixed(batch)
    assert outputs["sequence_output"].dtype == half
    assert outputs["pooled_output"].dtype == half
    reference = np.asarray(encoder(batch)["sequence_output"])
    got = np.asarray(tf.cast(outputs["sequence_output"], tf.float32))
    assert np.isfinite(got).all()
    # LayerNorm keeps activations ~unit scale: bf16 keeps ~3 significant digits.
    tolerance = 0.1 if half == "bfloat16" else 0.02
    np.testing.assert_allclose(got[batch["input_mask"] == 1], reference[batch["input_mask"] == 1], atol=tolerance)


def test_constructor_rejects_bad_architecture():
    with pytest.raises(ValueError, match="divisible"):
        BertEncoder(**dict(TINY_CONFIG, num_heads=5))
    with pytest.raises(ValueError, match="hidden_act 'tanh' is not supported"):
        BertEncoder(**TINY_CONFIG, hidden_act="tanh")


def test_constructor_names_an_unknown_argument():
    # Keras's functional Model would swallow it silently.
    with pytest.raises(TypeError, match="unknown argument\\(s\\) num_hidden_layers; .*num_layers"):
        BertEncoder(**TINY_CONFIG, num_hidden_layers=3)


def test_fields_are_bert_configs(encoder):
    """The constructor's architecture fields are exactly BertConfig's, with its defaults."""
    assert encoder.bert_config == BertConfig(**TINY_CONFIG)
    config = encoder.get_config()
    assert {name: config[name] for name in BertConfig.field_names()} == encoder.bert_config.to_dict()
    assert set(config) - set(BertConfig.field_names()) == {
        "initializer_range", "pooled_only", "dtype", "name", "trainable"
    }
    rebuilt = BertEncoder.from_bert_config(encoder.bert_config)
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in encoder.weights]


def test_pooled_only_gives_the_same_pooled_output_and_cls_row(encoder):
    # The last block computing only [CLS] must not change what a [CLS] head reads.
    pooled_only = BertEncoder.from_config({**encoder.get_config(), "pooled_only": True})
    pooled_only.set_weights(encoder.get_weights())
    assert pooled_only.get_config()["pooled_only"] is True
    batch = random_batch()
    full, short = encoder(batch), pooled_only(batch)
    assert tuple(short["sequence_output"].shape) == (3, 1, TINY_CONFIG["hidden_size"])
    np.testing.assert_allclose(short["pooled_output"], full["pooled_output"], atol=1e-6)
    np.testing.assert_allclose(short["sequence_output"][:, 0], full["sequence_output"][:, 0], atol=1e-6)
    # The other positions still count as keys: changing one changes the [CLS] row.
    changed = dict(batch, input_ids=batch["input_ids"].copy())
    changed["input_ids"][0, 3] = (changed["input_ids"][0, 3] + 7) % TINY_CONFIG["vocab_size"]
    assert not np.allclose(pooled_only(changed)["pooled_output"][0], short["pooled_output"][0])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_training_gelu_equals_the_composite_gelu_and_its_gradient(dtype):
    # The training graph's GELU writes its derivative out; values and gradients must
    # be those of ops.gelu(approximate=False) differentiated op by op.
    from tfbert.layers.transformer_block import exact_gelu_for_training

    x = tf.cast(tf.linspace(-8.0, 8.0, 1601), dtype)
    weights = tf.random.stateless_normal([1601], seed=[1, 2])

    def value_and_gradient(gelu):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = gelu(x)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
        return tf.cast(y, "float32").numpy(), tf.cast(tape.gradient(loss, x), "float32").numpy()

    def reference(v):
        return tf.cast(keras.ops.gelu(tf.cast(v, "float32"), approximate=False), v.dtype)

    y, grad = value_and_gradient(exact_gelu_for_training)
    y_ref, grad_ref = value_and_gradient(reference)
    tolerance = 1e-6 if dtype == "float32" else 1e-2
    np.testing.assert_allclose(y, y_ref, atol=tolerance)
    np.testing.assert_allclose(grad, grad_ref, atol=tolerance * 10)
    assert np.abs(grad).max() > 1.0  # the weights reach the input: not a zero gradient


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu"])
def test_inference_feed_forward_equals_the_training_path(hidden_act):
    # Inference applies the activation in the compute dtype (ops oneDNN fuses into the
    # matmul); training uses the GELU with its derivative written out. Without dropout
    # both are one function.
    from tfbert.layers.transformer_block import TransformerBlock

    keras.utils.set_random_seed(3)
    block = TransformerBlock(32, 4, 64, hidden_act=hidden_act, hidden_dropout=0.0,
                             attention_dropout=0.0)
    hidden = tf.random.stateless_normal([2, 5, 32], seed=[4, 5])
    bias = attention_mask_bias(tf.constant([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    block(hidden, bias)
    # Biases start at zero; give them values so a bias dropped on one path shows.
    block.intermediate_dense.bias.assign(tf.random.stateless_normal([64], seed=[6, 7]))
    inference = block(hidden, bias, training=False)
    training = block(hidden, bias, training=True)
    np.testing.assert_allclose(inference, training, atol=1e-5)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_inference_gelu_follows_a_bias_add_in_the_compute_dtype(policy):
    # TF's graph rewrite fuses MatMul + BiasAdd + GELU into one oneDNN primitive only
    # when the GELU reads the BiasAdd (Keras' Dense adds its bias with one) in the
    # matmul's dtype, with no cast to float32 between. Timing cannot be asserted; the
    # pattern can.
    from tfbert.layers.transformer_block import TransformerBlock

    block = TransformerBlock(32, 4, 64, dtype=policy)
    function = tf.function(lambda h, b: block(h, b, training=False))
    graph = function.get_concrete_function(
        tf.TensorSpec([None, None, 32]), tf.TensorSpec([None, 1, 1, None])).graph
    (erfc,) = [op for op in graph.get_operations() if op.type == "Erfc"]
    assert erfc.inputs[0].dtype == block.compute_dtype

    def producers(op, through=("Mul", "Neg")):
        for tensor in op.inputs:
            yield tensor.op
            if tensor.op.type in through:
                yield from producers(tensor.op, through)

    bias_adds = [op for op in producers(erfc) if op.type == "BiasAdd"]
    assert bias_adds and bias_adds[0].inputs[0].op.type == "MatMul"
