"""One post-LayerNorm transformer block, as in the original BERT."""

import math

import keras
import tensorflow as tf
from keras import ops

from tfbert.layers.attention import BertSelfAttention
from tfbert.layers.dropout import BertDropout
from tfbert.layers.initializers import truncated_normal
from tfbert.layers.layer_norm import BertLayerNorm


def _in_float32(function, x):
    # erf has no vectorized bfloat16/float16 kernel on CPU: in half precision it ran
    # 1.6x slower than casting to float32 and back (bench/RESULTS.md), and float32 is
    # the more exact of the two.
    if x.dtype == "float32":
        return function(x)
    return ops.cast(function(ops.cast(x, "float32")), x.dtype)


def _exact_gelu(x):
    """BERT's erf GELU in x's dtype, as ops TF's graph rewrite fuses into the matmul.

    On x86 CPUs grappler's remapper turns MatMul + BiasAdd (Keras' Dense adds its bias
    with BiasAdd) + this GELU into one oneDNN primitive that applies the GELU to the
    float32 accumulator, so half precision loses nothing here. A cast to float32
    between the two stops the fusion: in bfloat16 the fused form ran a [512, 384] x
    [384, 1536] layer 2.2x faster than the matmul then the float32 GELU, and the MiniLM
    encoder on a [32, 24] batch 1.3x faster (bench/RESULTS.md, "Sentence vectors").
    """
    return ops.gelu(x, approximate=False)


@tf.custom_gradient
def _exact_gelu_float32(x):
    """x * Phi(x) on float32 x, with its derivative written out: Phi(x) + x * phi(x).

    The same values as ops.gelu(approximate=False). Differentiating that composite
    op by op costs about a dozen elementwise passes over [tokens, intermediate] in the
    backward pass; the formula below costs six and reuses Phi(x) from the forward pass
    (a training step 1.5 ms faster per layer at [1280, 1536] on two cores:
    bench/RESULTS.md, "Token tagging").
    """
    cdf = 0.5 * tf.math.erfc(x * -(1.0 / math.sqrt(2.0)))          # Phi(x)

    def gradient(upstream):
        pdf = tf.exp(-0.5 * tf.square(x)) * (1.0 / math.sqrt(2.0 * math.pi))  # phi(x)
        return upstream * (cdf + x * pdf)

    return x * cdf, gradient


def exact_gelu_for_training(x):
    """BERT's erf GELU for the training graph (serving graphs keep ops.gelu's ops)."""
    return _in_float32(_exact_gelu_float32, x)


# hidden_act name -> activation. "gelu" is BERT's exact erf GELU; the tanh form is
# what some later checkpoints were trained with. The names are those of
# tfbert.models.config.SUPPORTED_ACTIVATIONS, which validates them (tests/test_config.py
# keeps the two equal).
ACTIVATIONS = {
    "gelu": _exact_gelu,
    "gelu_new": lambda x: ops.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate=True),
    "relu": ops.relu,
}


def feed_forward_activation(hidden_act, training):
    """The function for `hidden_act`: in training, the erf GELU's gradient written out."""
    if training and hidden_act == "gelu":
        return exact_gelu_for_training
    return ACTIVATIONS[hidden_act]


@keras.saving.register_keras_serializable(package="tfbert")
class TransformerBlock(keras.layers.Layer):
    """attention -> dropout -> residual -> LayerNorm -> feed-forward -> dropout -> residual -> LayerNorm.

    Call with hidden_states [batch, seq, hidden] and the additive mask bias
    float32 [batch, 1, 1, seq]; returns [batch, seq, hidden]. The arguments are the
    `BertConfig` fields of the same names; BertConfig is what validates them.
    """

    def __init__(
        self,
        hidden_size,
        num_heads,
        intermediate_size,
        hidden_act="gelu",
        hidden_dropout=0.1,
        attention_dropout=0.1,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        initializer = truncated_normal(initializer_range)
        policy = self.dtype_policy
        self.attention = BertSelfAttention(
            hidden_size, num_heads, dropout=attention_dropout,
            initializer_range=initializer_range, dtype=policy, name="attention",
        )
        self.attention_dropout_layer = BertDropout(hidden_dropout, dtype=policy)
        # Computed in float32 internally for half inputs, as Keras' LayerNormalization.
        self.attention_layer_norm = BertLayerNorm(
            epsilon=layer_norm_epsilon, dtype=policy, name="attention_layer_norm"
        )
        self.intermediate_dense = keras.layers.Dense(
            intermediate_size, kernel_initializer=initializer, dtype=policy,
            name="intermediate_dense",
        )
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=initializer, dtype=policy, name="output_dense"
        )
        self.output_dropout_layer = BertDropout(hidden_dropout, dtype=policy)
        self.output_layer_norm = BertLayerNorm(
            epsilon=layer_norm_epsilon, dtype=policy, name="output_layer_norm"
        )

    def build(self, hidden_states_shape, mask_bias_shape=None):
        hidden_shape = (None, None, self.hidden_size)
        self.attention.build(hidden_shape)
        self.attention_layer_norm.build(hidden_shape)
        self.intermediate_dense.build(hidden_shape)
        self.output_dense.build((None, None, self.intermediate_size))
        self.output_layer_norm.build(hidden_shape)
        self.built = True

    def call(self, hidden_states, mask_bias, training=None, first_position_only=False):
        # first_position_only: compute only position 0's output ([CLS]), [B, 1, H].
        # Every position still serves as a key and value, so that row is exact.
        attention_output = self.attention(hidden_states, mask_bias, training=training,
                                          first_query_only=first_position_only)
        if first_position_only:
            hidden_states = hidden_states[:, :1]                               # [B, 1, H]
        attention_output = self.attention_dropout_layer(attention_output, training=training)
        hidden_states = self.attention_layer_norm(hidden_states + attention_output,
                                                  training=training)

        # The feed-forward runs on [B*T, H] rows: 2-D matmuls let oneDNN fuse the bias
        # add into them (see BertSelfAttention).
        rows = ops.reshape(hidden_states, (-1, self.hidden_size))          # [B*T, H]
        activation = feed_forward_activation(self.hidden_act, training)
        intermediate = activation(self.intermediate_dense(rows))          # [B*T, intermediate]
        layer_output = self.output_dense(intermediate)                     # [B*T, H]
        layer_output = self.output_dropout_layer(layer_output, training=training)
        layer_output = ops.reshape(layer_output, ops.shape(hidden_states))  # [B, T, H]
        return self.output_layer_norm(hidden_states + layer_output, training=training)

    def compute_output_shape(self, hidden_states_shape, mask_bias_shape=None):
        return hidden_states_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout=self.hidden_dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
