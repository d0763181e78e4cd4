"""The `[CLS]`-pooled classification head of the original BERT."""

import keras

from tfbert.layers.pooling_head import PoolingHead


@keras.saving.register_keras_serializable(package="tfbert")
class ClsPoolingHead(PoolingHead):
    """pooled_output -> dropout -> dense: the encoder's tanh-pooled [CLS] vector
    decides. The input mask is not read.
    """

    reads_only_pooled_output = True

    def pool(self, encoder_outputs, input_mask):
        return encoder_outputs["pooled_output"]  # [B, H]
