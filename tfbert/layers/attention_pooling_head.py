"""A head that learns which tokens to listen to: attention pooling."""

import math

import keras
from keras import ops

from tfbert.layers.attention import attention_mask_bias
from tfbert.layers.pooling_head import PoolingHead


@keras.saving.register_keras_serializable(package="tfbert")
class AttentionPoolingHead(PoolingHead):
    """A learned query scores every token; their softmax-weighted sum decides.

        scores  = sequence_output @ query / sqrt(hidden) + (1 - mask) * -10000   [B, T]
        weights = softmax(scores) over tokens (float32)                          [B, T]
        pooled  = sum_t weights[:, t] * sequence_output[:, t]                    [B, H]
        logits  = dense(dropout(pooled))                                         [B, num_outputs]

    Padding gets the same additive bias as in the encoder's attention, so it
    receives zero weight.
    """

    def build(self, encoder_outputs_shape, input_mask_shape=None):
        self.query = self.add_weight(
            name="query",
            shape=(encoder_outputs_shape["sequence_output"][-1],),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range),
        )
        super().build(encoder_outputs_shape, input_mask_shape)

    def pool(self, encoder_outputs, input_mask):
        sequence = ops.cast(encoder_outputs["sequence_output"], "float32")   # [B, T, H]
        hidden_size = ops.shape(sequence)[-1]
        scores = ops.einsum("bth,h->bt", sequence, ops.cast(self.query, "float32"))
        scores = scores / math.sqrt(hidden_size) + attention_mask_bias(input_mask)[:, 0, 0, :]
        weights = ops.softmax(scores, axis=-1)                               # [B, T]
        return ops.einsum("bt,bth->bh", weights, sequence)                   # [B, H]
