"""The pooling heads by the name a recipe gives them."""

from tfbert.layers.attention_pooling_head import AttentionPoolingHead
from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.layers.mean_pooling_head import MeanPoolingHead

POOLING_HEADS = {
    "cls": ClsPoolingHead,
    "attention": AttentionPoolingHead,
    "mean": MeanPoolingHead,
}
