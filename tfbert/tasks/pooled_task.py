"""`PooledTask`: one vector per text from a pooling head -> `num_outputs` numbers.

    inputs -> BertEncoder -> pooling head ([CLS], attention or mean) -> dense
           -> float32 [batch, num_outputs]

What the text classifier and the regressor share; they differ in what the numbers
mean (see their modules).
"""

import tensorflow as tf

from tfbert.layers.heads import POOLING_HEADS
from tfbert.tasks.task import Task


class PooledTask(Task):
    # A fresh dense head on a pretrained encoder learns at 1e-3 while the encoder stays at
    # 1e-4: ATIS 93.3 -> 97.7, MRPC F1 86.7 -> 85.8 (bench/RESULTS.md, "Defaults").
    default_head_learning_rate = 1e-3

    def __init__(self, encoder, tokenizer, num_outputs, head="cls", pair=False, dropout=0.1,
                 **kwargs):
        if head not in POOLING_HEADS:
            raise ValueError(f"head {head!r} is not one of: {', '.join(POOLING_HEADS)}.")
        super().__init__(encoder, tokenizer, pair=pair, **kwargs)
        head_class = POOLING_HEADS[head]
        if self.encoder.pooled_only and not head_class.reads_only_pooled_output:
            # Such an encoder returns only the [CLS] position: any other head would
            # quietly pool over one token.
            raise ValueError(f"head {head!r} reads every token, but the encoder was built "
                             "with pooled_only=True (only [CLS]); use head='cls' or an "
                             "encoder with pooled_only=False.")
        self.head_type = head
        self.dropout = dropout
        self.num_outputs = num_outputs
        self.head = head_class(num_outputs, dropout=dropout, dtype=self.encoder.dtype_policy,
                               name="head")
        self.build_from_tokens()

    def call(self, inputs, training=None):
        encoder_outputs = self.encoder(inputs, training=training)
        return self.head(encoder_outputs, inputs["input_mask"], training=training)

    @property
    def reads_pooled_output(self):
        return self.head.reads_only_pooled_output  # the [CLS] head; the others read tokens

    @property
    def reads_only_pooled_output(self):
        return self.head.reads_only_pooled_output

    def explained_output(self, token_vectors, segment_ids, input_mask, target=None):
        """What `tfbert explain` attributes, from the token embedding vectors [n, T, H]
        (`BertEncoder.from_token_vectors`): [n], the probability of label `target` (a
        classifier: calibrated, as the answer) or the score (a regressor)."""
        encoder_outputs = self.encoder.from_token_vectors(token_vectors, segment_ids, input_mask)
        raw = tf.cast(self.head(encoder_outputs, input_mask), tf.float32)     # [n, outputs]
        outputs = self.postprocessor.postprocess(raw, self.asset_tensors())
        if "probabilities" in outputs:
            return outputs["probabilities"][:, target]
        return outputs["score"]

    def plain_config(self):
        return {**super().plain_config(), "head": self.head_type, "dropout": self.dropout}
