"""A head that learns which tokens to listen to: attention pooling."""

import math

import keras
from keras import ops

from tfbert.layers.attention import attention_mask_bias


@keras.saving.register_keras_serializable(package="tfbert")
class AttentionPoolingHead(keras.layers.Layer):
    """A learned query scores every token; their softmax-weighted sum decides.

        scores  = sequence_output @ query / sqrt(hidden) + (1 - mask) * -10000   [B, T]
        weights = softmax(scores) over tokens (float32)                          [B, T]
        pooled  = sum_t weights[:, t] * sequence_output[:, t]                    [B, H]
        logits  = dense(dropout(pooled))                                         [B, num_outputs]

    Padding gets the same additive bias as in the encoder's attention, so it
    receives zero weight. Call with the encoder's output dict and the input mask.
    """

    def __init__(self, num_outputs, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.output_dense = keras.layers.Dense(
            num_outputs,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype="float32",
            name="output_dense",
        )

    def build(self, encoder_outputs_shape, input_mask_shape=None):
        hidden_size = encoder_outputs_shape["sequence_output"][-1]
        self.query = self.add_weight(
            name="query",
            shape=(hidden_size,),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
        )
        self.output_dense.build((None, hidden_size))
        self.built = True

    def call(self, encoder_outputs, input_mask, training=None):
        sequence = ops.cast(encoder_outputs["sequence_output"], "float32")   # [B, T, H]
        hidden_size = ops.shape(sequence)[-1]
        scores = ops.einsum("bth,h->bt", sequence, ops.cast(self.query, "float32"))
        scores = scores / math.sqrt(hidden_size) + attention_mask_bias(input_mask)[:, 0, 0, :]
        weights = ops.softmax(scores, axis=-1)                               # [B, T]
        pooled = ops.einsum("bt,bth->bh", weights, sequence)                 # [B, H]
        pooled = self.dropout_layer(ops.cast(pooled, self.compute_dtype), training=training)
        return self.output_dense(pooled)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_outputs=self.num_outputs,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
