"""Long texts as overlapping windows: every piece of a text reaches the encoder.

BERT reads at most `max_length` pieces; a longer text is otherwise cut, and what
its end says is lost (a review's verdict is often in its last sentence). With
`long_text = "windows"` a text of P pieces is cut into windows of at most
`window = max_length - 2` pieces ([CLS] and [SEP] are added to each), the next
starting `stride` pieces after the last, the last one ending at the text's end:

    pieces   0 ......................................... P
    window 0 [0, window)
    window 1       [stride, stride + window)
    last                           [P - window, P)

A text that fits is one window, packed exactly as the plain tokenizer packs it. A
text is read in at most `max_windows` windows (its first ones; the rest of it is cut,
as a truncated text is): a batch of B texts is at most B * max_windows sequences, so
one very long text cannot take a batch's memory (ChnSentiCorp's training set has a
review of 41,846 characters: 330 windows of 254 pieces at a stride of 127).
The task runs its encoder and head on every window and combines a text's window
outputs into one (tasks/pooled_task.py), in training, evaluation, predict and the
export alike, since all of them pack through `TextWindows.pack`.

Everything is TensorFlow ops on ragged tensors, so the same code prepares training
batches and runs inside the exported serving graph.
"""

import tensorflow as tf


def window_ranges(piece_counts, window, stride, max_windows=None):
    """Where each text's windows start and end.

    piece_counts: int32 [B], pieces per text. max_windows: the most windows a text
    gets (its first ones); None: as many as it takes. Returns (starts, ends,
    windows_per_text): starts and ends int32 [N] (piece positions within their text,
    N windows in all, text by text), windows_per_text int32 [B] (at least 1: an empty
    text is one empty window).
    """
    if not 1 <= stride <= window:
        raise ValueError(f"window stride must be in [1, {window}] (the window), got {stride}.")
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"max_windows must be at least 1, got {max_windows}.")
    piece_counts = tf.cast(piece_counts, tf.int32)
    extra = tf.maximum(piece_counts - window, 0)
    windows_per_text = 1 + (extra + stride - 1) // stride                   # [B]
    if max_windows is not None:
        windows_per_text = tf.minimum(windows_per_text, max_windows)
    text_of_window = tf.repeat(tf.range(tf.size(piece_counts)), windows_per_text)  # [N]
    first_window = tf.cumsum(windows_per_text, exclusive=True)              # [B]
    index_in_text = tf.range(tf.size(text_of_window)) - tf.gather(first_window, text_of_window)
    count = tf.gather(piece_counts, text_of_window)                         # [N]
    # The last window is moved back to end at the text's end (never before 0).
    starts = tf.minimum(index_in_text * stride, tf.maximum(count - window, 0))
    ends = tf.minimum(starts + window, count)
    return starts, ends, windows_per_text


class TextWindows:
    """A tokenizer's packing, window by window: what a long-text task packs with.

    `tokenize` is the tokenizer's. `pack(pieces)` gives BERT's inputs with a window
    axis, int32 [B, W, T] (W: the most windows of a text in the batch; a text with
    fewer has windows of padding, input_mask all 0). `packed_lengths` is each text's
    pieces plus [CLS] and [SEP], not cut at max_length (but at what max_windows
    read): what batches are planned and inference chunks sorted by, so a batch holds
    texts of a similar number of windows.
    """

    def __init__(self, tokenizer, stride, max_windows=None):
        self.tokenizer = tokenizer
        self.window = tokenizer.max_length - 2
        self.stride = int(stride)
        self.max_windows = None if max_windows is None else int(max_windows)
        window_ranges(tf.zeros([0], tf.int32), self.window, self.stride, self.max_windows)  # checks

    def tokenize(self, texts):
        return self.tokenizer.tokenize(texts)

    def packed_lengths(self, first, second=None):
        if second is not None:
            raise ValueError("long texts are read in windows only for single-text tasks.")
        lengths = tf.cast(first.row_lengths() + 2, tf.int32)                 # [B]
        if self.max_windows is not None:
            lengths = tf.minimum(lengths, (self.max_windows - 1) * self.stride + self.window + 2)
        return lengths

    def pack(self, first, second=None):
        """first: int32 RaggedTensor [B, (pieces)] -> dict of int32 [B, W, T]."""
        if second is not None:
            raise ValueError("long texts are read in windows only for single-text tasks.")
        starts, ends, windows_per_text = window_ranges(first.row_lengths(), self.window,
                                                       self.stride, self.max_windows)
        text_of_window = tf.repeat(tf.range(first.nrows(out_type=tf.int32)), windows_per_text)
        text_start = tf.gather(tf.cast(first.row_splits, tf.int32), text_of_window)     # [N]
        positions = tf.ragged.range(text_start + starts, text_start + ends)  # [N, (pieces)]
        pieces = positions.with_flat_values(tf.gather(first.flat_values, positions.flat_values))
        features = self.tokenizer.pack(pieces)                               # [N, T] each
        return {name: tf.RaggedTensor.from_row_lengths(value, windows_per_text).to_tensor()
                for name, value in features.items()}                         # [B, W, T]
