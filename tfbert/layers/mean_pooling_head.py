"""The sentence-transformers head: the mean of the real tokens' vectors."""

import keras
from keras import ops

from tfbert.layers.pooling_head import PoolingHead


@keras.saving.register_keras_serializable(package="tfbert")
class MeanPoolingHead(PoolingHead):
    """The masked mean of the token vectors decides.

        pooled = sum_t mask[:, t] * sequence_output[:, t] / sum_t mask[:, t]   [B, H]
        logits = dense(dropout(pooled))                                        [B, num_outputs]

    Padding is left out of both sums. This is the pooling that sentence-transformers
    checkpoints such as all-MiniLM-L6-v2 were trained with.
    """

    def pool(self, encoder_outputs, input_mask):
        # Summed in float32: a half-precision sum over hundreds of tokens loses digits.
        sequence = ops.cast(encoder_outputs["sequence_output"], "float32")   # [B, T, H]
        mask = ops.cast(input_mask, "float32")[:, :, None]                   # [B, T, 1]
        total = ops.sum(sequence * mask, axis=1)                             # [B, H]
        # At least 1, so that a row of padding alone pools to zeros, not NaN.
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)                      # [B, 1]
        return total / count
