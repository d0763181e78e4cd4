"""`PooledTask`: one vector per text from a pooling head -> `num_outputs` numbers.

    inputs -> BertEncoder -> pooling head ([CLS], attention or mean) -> dense
           -> float32 [batch, num_outputs]

What the text classifier and the regressor share; they differ in what the numbers
mean (see their modules).

Long texts (`long_text="windows"`, single texts only): each text is cut into
overlapping windows (tfbert/data/text_windows.py), every window runs through the
encoder, and a text's windows are combined into one output (`window_combine`):

    input_ids [B, W, T] -> [B*W, T] -> encoder, head -> [B*W, n] -> [B, W, n]
                        -> over the text's real windows: mean | max -> [B, n]
    attention: encoder, head's pool -> [B, W, H] -> softmax-weighted sum over the
               real windows [B, H] -> head's output layer -> [B, n]

The mean of logits is a product of the windows' evidence (a geometric mean of their
probabilities); max answers with the window most sure of each output; "attention"
weighs the windows' pooled vectors by a learned score (a softmax over the text's
windows) and runs the head's output layer once on their weighted sum. Token inputs
without a window axis ([B, T], as a client that tokenizes itself sends them to
`predict_ids`) are one window per row.
"""

import keras
import tensorflow as tf

from tfbert.data.text_windows import TextWindows
from tfbert.layers.heads import POOLING_HEADS
from tfbert.tasks.sections import LONG_TEXT, WINDOW_COMBINE
from tfbert.tasks.task import Task


class PooledTask(Task):
    # A fresh dense head on a pretrained encoder learns at 1e-3 while the encoder stays at
    # 1e-4: ATIS 93.3 -> 97.7, MRPC F1 86.7 -> 85.8 (bench/RESULTS.md, "Defaults").
    default_head_learning_rate = 1e-3

    def __init__(self, encoder, tokenizer, num_outputs, head="cls", pair=False, dropout=0.1,
                 long_text="truncate", window_stride=None, window_combine="mean", max_windows=8,
                 **kwargs):
        if head not in POOLING_HEADS:
            raise ValueError(f"head {head!r} is not one of: {', '.join(POOLING_HEADS)}.")
        if long_text not in LONG_TEXT:
            raise ValueError(f"long_text = {long_text!r} is not one of: {', '.join(LONG_TEXT)}.")
        if window_combine not in WINDOW_COMBINE:
            raise ValueError(f"window_combine = {window_combine!r} is not one of: "
                             f"{', '.join(WINDOW_COMBINE)}.")
        if long_text == "windows" and pair:
            raise ValueError('long_text = "windows" is for single texts; a pair task reads '
                             "both texts in one window (long_text = \"truncate\").")
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
        self.long_text = long_text
        self.window_combine = window_combine
        # Half a window by default: every piece is read once with context on both sides
        # (but a text's first and last pieces).
        self.window_stride = (None if long_text == "truncate" else
                              int(window_stride) if window_stride is not None
                              else max(1, self.tokenizer.max_length // 2 - 1))
        self.max_windows = int(max_windows)
        if self.long_text == "windows":
            TextWindows(self.tokenizer, self.window_stride, self.max_windows)  # else ValueError
        self.head = head_class(num_outputs, dropout=dropout, dtype=self.encoder.dtype_policy,
                               name="head")
        # window_combine = "attention": one learned score per window's pooled vector.
        self.window_attention = None
        if long_text == "windows" and window_combine == "attention":
            self.window_attention = keras.layers.Dense(
                1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                dtype="float32", name="window_attention")
            self.window_attention.build((None, self.encoder.bert_config.hidden_size))
        self.build_from_tokens()

    @property
    def packer(self):
        if self.long_text == "windows":
            return TextWindows(self.tokenizer, self.window_stride, self.max_windows)
        return self.tokenizer

    def call(self, inputs, training=None):
        if inputs["input_ids"].shape.rank == 3:
            return self.call_windows(inputs, training)
        encoder_outputs = self.encoder(inputs, training=training)
        return self.head(encoder_outputs, inputs["input_mask"], training=training)

    def call_windows(self, inputs, training=None):
        """Inputs with a window axis [B, W, T] -> one output per text [B, n]."""
        shape = tf.shape(inputs["input_ids"])                                 # [B, W, T]
        flat = {name: tf.reshape(value, [-1, shape[2]]) for name, value in inputs.items()}
        encoder_outputs = self.encoder(flat, training=training)
        real = tf.reduce_max(inputs["input_mask"], axis=2) > 0                 # [B, W]
        if self.window_attention is not None:
            return self.attend_to_windows(encoder_outputs, flat["input_mask"], real, training)
        outputs = self.head(encoder_outputs, flat["input_mask"], training=training)  # [B*W, n]
        outputs = tf.reshape(outputs, [shape[0], shape[1], self.num_outputs])  # [B, W, n]
        if self.window_combine == "max":
            lowest = tf.constant(outputs.dtype.min, outputs.dtype)
            return tf.reduce_max(tf.where(real[:, :, None], outputs, lowest), axis=1)
        # tf.where, not a product with the mask: a padding window's output never
        # reaches the sum, whatever it is.
        kept = tf.where(real[:, :, None], outputs, tf.zeros_like(outputs))   # [B, W, n]
        count = tf.reduce_sum(tf.cast(real, outputs.dtype), axis=1)[:, None]  # [B, 1]
        return tf.reduce_sum(kept, axis=1) / tf.maximum(count, 1)            # [B, n]

    def attend_to_windows(self, encoder_outputs, flat_mask, real, training=None):
        """window_combine = "attention": the head's pooled vector of each window, a
        softmax over the text's real windows of a learned score of each, and the head's
        output layer on their weighted sum (one vector per text, not one per window)."""
        head = self.head
        pooled = tf.cast(head.pool(encoder_outputs, flat_mask), tf.float32)  # [B*W, H]
        pooled = tf.reshape(pooled, [tf.shape(real)[0], tf.shape(real)[1], -1])  # [B, W, H]
        scores = self.window_attention(pooled)[:, :, 0]                       # [B, W]
        scores = tf.where(real, scores, tf.constant(-1e9, tf.float32))
        weights = tf.nn.softmax(scores, axis=1)[:, :, None]                  # [B, W, 1]
        text_vector = tf.reduce_sum(weights * pooled, axis=1)                 # [B, H]
        return head.output_dense(head.dropout_layer(text_vector, training=training))  # [B, n]

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
        return {**super().plain_config(), "head": self.head_type, "dropout": self.dropout,
                "long_text": self.long_text, "window_stride": self.window_stride,
                "window_combine": self.window_combine, "max_windows": self.max_windows}
