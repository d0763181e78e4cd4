"""The Keras layers BERT and its heads are made of; each serializes via `get_config`.

    from tfbert.layers import CRF, TransformerBlock, POOLING_HEADS
"""

from tfbert.layers.attention import BertSelfAttention, attention_mask_bias
from tfbert.layers.attention_pooling_head import AttentionPoolingHead
from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.layers.crf import CRF, CRFLoss
from tfbert.layers.dropout import BertDropout
from tfbert.layers.embeddings import BertEmbeddings
from tfbert.layers.heads import POOLING_HEADS
from tfbert.layers.layer_norm import BertLayerNorm
from tfbert.layers.mean_pooling_head import MeanPoolingHead
from tfbert.layers.pooling_head import PoolingHead
from tfbert.layers.pretraining_heads import MaskedLMHead, NextSentenceHead
from tfbert.layers.transformer_block import TransformerBlock

__all__ = ["AttentionPoolingHead", "BertDropout", "BertEmbeddings", "BertLayerNorm",
           "BertSelfAttention", "CRF", "CRFLoss", "ClsPoolingHead", "MaskedLMHead",
           "MeanPoolingHead", "NextSentenceHead", "POOLING_HEADS", "PoolingHead",
           "TransformerBlock", "attention_mask_bias"]
