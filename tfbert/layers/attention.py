"""Multi-head self-attention with BERT's additive padding mask."""

import math

import keras
from keras import ops

from tfbert.layers.dropout import BertDropout
from tfbert.layers.initializers import truncated_normal


def attention_mask_bias(input_mask):
    """Turns a 0/1 padding mask into BERT's additive attention bias.

    input_mask: int or float [batch, seq], 1 for real tokens and 0 for padding.
    Returns float32 [batch, 1, 1, seq]: 0 where attention is allowed, -10000 where
    it is not. Added to the scores before softmax, -10000 drives a padded key's
    weight to exp(-10000) = 0 while staying finite in float16 and bfloat16 (a
    -1e9 would overflow there), so one graph serves every precision.
    """
    mask = ops.cast(input_mask, "float32")
    return ((1.0 - mask) * -10000.0)[:, None, None, :]


@keras.saving.register_keras_serializable(package="tfbert")
class BertSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `num_heads` heads.

    Query, key and value come from one fused [hidden, 3 * hidden] projection:
    one large matmul runs faster than three small ones, and the math is the same.
    Scores, bias and softmax are computed in float32 whatever the layer's
    compute dtype, so mixed precision does not change which tokens win.
    """

    def __init__(self, hidden_size, num_heads, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        # BertConfig checks that num_heads divides hidden_size.
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.dropout = dropout
        self.initializer_range = initializer_range

        initializer = truncated_normal(initializer_range)
        self.query_key_value = keras.layers.Dense(
            3 * hidden_size, kernel_initializer=initializer,
            dtype=self.dtype_policy, name="query_key_value",
        )
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=initializer,
            dtype=self.dtype_policy, name="output_dense",
        )
        self.dropout_layer = BertDropout(dropout, dtype=self.dtype_policy)

    def build(self, hidden_states_shape, mask_bias_shape=None):
        self.query_key_value.build((None, None, self.hidden_size))
        self.output_dense.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states, mask_bias, training=None, first_query_only=False):
        # hidden_states: [batch, seq, hidden]; mask_bias: float32 [batch, 1, 1, seq]
        # first_query_only: attend from position 0 ([CLS]) only; returns [B, 1, H].
        batch_size, seq_length = ops.shape(hidden_states)[0], ops.shape(hidden_states)[1]

        # The projections run on [B*T, H] rows: a 2-D matmul lets oneDNN fuse the bias
        # add into it, which a reshape between the two prevents (bench/RESULTS.md).
        rows = ops.reshape(hidden_states, (-1, self.hidden_size))       # [B*T, H]
        qkv = self.query_key_value(rows)                                # [B*T, 3H]
        qkv = ops.reshape(
            qkv, (batch_size, seq_length, 3 * self.num_heads, self.head_size)
        )                                                               # [B, T, 3N, D]
        # Heads first, once, so both products below are plain batched matmuls
        # (measured faster on CPU than einsums that transpose their operands each).
        qkv = ops.transpose(qkv, (0, 2, 1, 3))                          # [B, 3N, T, D]
        query, key, value = ops.split(qkv, 3, axis=1)                   # [B, N, T, D] each
        if first_query_only:
            query = query[:, :, :1]                                     # [B, N, 1, D]
        query_length = 1 if first_query_only else seq_length            # Q below

        # Scaling the query, not the scores, touches T*D values per head, not T*T.
        query = query * ops.cast(1.0 / math.sqrt(self.head_size), query.dtype)
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))    # [B, N, Q, T]
        # Keras autocasts float inputs to the compute dtype; take the bias back to
        # float32 (-10000 is -9984 in bfloat16: still a zero weight after softmax).
        scores = ops.cast(scores, "float32") + ops.cast(mask_bias, "float32")
        probs = ops.softmax(scores, axis=-1)                            # float32 [B, N, Q, T]
        probs = self.dropout_layer(ops.cast(probs, self.compute_dtype), training=training)

        context = ops.matmul(probs, value)                              # [B, N, Q, D]
        context = ops.transpose(context, (0, 2, 1, 3))                  # [B, Q, N, D]
        context = ops.reshape(context, (-1, self.hidden_size))          # [B*Q, H]
        output = self.output_dense(context)                             # [B*Q, H]
        return ops.reshape(output, (batch_size, query_length, self.hidden_size))

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
