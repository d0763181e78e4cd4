"""Cutting sentences of words into windows that fit BERT, so no word goes untagged.

A token tagger labels words, but BERT sees at most `max_length` pieces. A sentence
whose pieces do not fit is cut into overlapping windows of at most `window` pieces
(the packed sequence adds [CLS] and [SEP]); the next window starts `stride` pieces
later, and the last one ends at the sentence's last piece:

    pieces   0 ........................................... P
    window 0 [0, window)
    window 1       [stride, stride + window)
    last                              [P - window, P)

Each window holds the words whose first piece lies in it (the piece a word's tag
is read from). A word in two windows is answered by the one where it has more
context: window j answers the words whose first piece is at or after the middle
of its overlap with window j-1 and before the middle of its overlap with j+1. Read
in window order, the answered words are every word of every sentence once, in
order.

Everything is TensorFlow ops on ragged tensors, so the same function prepares
training data eagerly and runs inside the exported serving graph.
"""

import tensorflow as tf


def word_windows(word_pieces, window, stride):
    """Windows of a batch of sentences.

    Args:
      word_pieces: int32 RaggedTensor [B, (words), (pieces)]: each word's WordPiece
        ids; a word must have at least one piece.
      window: most pieces in a window (the tokenizer's max_length - 2).
      stride: pieces between the starts of consecutive windows, 1 <= stride <= window.

    Returns a dict:
      piece_ids     int32 RaggedTensor [N, (pieces)]   each window's pieces
      word_starts   int32 RaggedTensor [N, (words)]    position of each of its words'
                                                       first piece in the window
      word_index    int32 RaggedTensor [N, (words)]    those words' index in their sentence
      answers       bool  RaggedTensor [N, (words)]    whether this window answers the word
      sentence      int32 [N]                          the sentence each window is from
    Every sentence has at least one window (an empty sentence: one empty window).
    """
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be in [1, window={window}], got {stride}.")
    piece_counts = tf.cast(word_pieces.row_lengths(axis=2), tf.int32)     # [B, (W)] ragged
    flat_counts = piece_counts.flat_values                                 # [NW]
    # First piece of each word, counted from its sentence's first piece.
    word_rows = tf.cast(piece_counts.value_rowids(), tf.int32)             # [NW]
    sentence_words = tf.cast(piece_counts.row_splits, tf.int32)            # [B + 1]
    running = tf.cumsum(flat_counts, exclusive=True)                       # [NW]
    running_total = tf.concat([running, [tf.reduce_sum(flat_counts)]], 0)  # [NW + 1]
    sentence_first_piece = tf.gather(running_total, sentence_words[:-1])   # [B]
    first_piece = running - tf.gather(sentence_first_piece, word_rows)     # [NW]
    totals = tf.reduce_sum(piece_counts, axis=1)                           # [B] pieces per sentence

    # Windows per sentence: 1 if it fits, else enough strides to reach the end.
    extra = tf.maximum(totals - window, 0)
    num_windows = 1 + (extra + stride - 1) // stride                       # [B]
    sentence = tf.repeat(tf.range(tf.size(totals)), num_windows)           # [N]
    j = tf.ragged.range(num_windows).flat_values                           # [N] window index
    sentence_total = tf.gather(totals, sentence)
    last_start = tf.maximum(sentence_total - window, 0)

    def bounds(k):  # start and end of window k of each window's sentence
        start = tf.minimum(k * stride, last_start)
        return start, tf.minimum(start + window, sentence_total)

    start, end = bounds(j)
    previous_start, previous_end = bounds(j - 1)
    next_start, next_end = bounds(j + 1)
    big = tf.int32.max
    answer_from = tf.where(j > 0, (start + previous_end) // 2, 0)
    answer_to = tf.where(j + 1 < tf.gather(num_windows, sentence), (next_start + end) // 2, big)

    flat_pieces = word_pieces.flat_values                                  # [total pieces]
    piece_offset = tf.gather(sentence_first_piece, sentence)               # [N]
    piece_ids = tf.gather(flat_pieces, tf.ragged.range(piece_offset + start, piece_offset + end))

    # The words of window n: those whose first piece is in [start, end). First
    # pieces increase within a sentence, so they are a range found by searchsorted.
    first_rows = tf.RaggedTensor.from_row_splits(first_piece, sentence_words, validate=False)
    # One column of padding more than needed: searchsorted reshapes its input to
    # [-1, width], which cannot infer the rows of a width-0 tensor (no words at all).
    first_dense = tf.pad(first_rows.to_tensor(default_value=big), [[0, 0], [0, 1]],
                         constant_values=big)
    first_dense = tf.gather(first_dense, sentence)                         # [N, Wmax + 1]
    bounds_of_window = tf.stack([start, end], axis=1)                      # [N, 2]
    word_range = tf.searchsorted(first_dense, bounds_of_window, side="left")
    word_range = tf.cast(word_range, tf.int32)
    word_index = tf.ragged.range(word_range[:, 0], word_range[:, 1])       # [N, (words)]
    # Per-window values meet per-word ones on the flat values (window of each word
    # gathered): ragged-by-dense broadcasting would build the same in many more ops,
    # seconds of every trace.
    window_of = tf.cast(word_index.value_rowids(), tf.int32)               # [NWW]
    flat_word = tf.gather(sentence_words[:-1], sentence)                   # [N] sentence's first word
    word_first = tf.gather(first_piece, word_index.flat_values
                           + tf.gather(flat_word, window_of))              # [NWW]
    answers = ((word_first >= tf.gather(answer_from, window_of))
               & (word_first < tf.gather(answer_to, window_of)))           # [NWW]
    return {
        "piece_ids": piece_ids,
        "word_starts": word_index.with_flat_values(word_first - tf.gather(start, window_of)),
        "word_index": word_index,
        "answers": word_index.with_flat_values(answers),
        "sentence": sentence,
    }


def answered(window_values, windows, num_sentences):
    """Per-window word values -> per-sentence word values, each word from the window
    that answers it.

    window_values: RaggedTensor [N, (words)] (or a Tensor [N, W] padded past each
      window's words), one value per word of each window.
    Returns a RaggedTensor [B, (words)].
    """
    answers = windows["answers"]
    if not isinstance(window_values, tf.RaggedTensor):
        window_values = tf.RaggedTensor.from_tensor(window_values, lengths=answers.row_lengths())
    values = tf.boolean_mask(window_values.flat_values, answers.flat_values)
    rows = tf.boolean_mask(tf.gather(windows["sentence"], answers.value_rowids()),
                           answers.flat_values)
    # Windows come in sentence order, so rows ascend: valid by construction, built
    # without the shape checks (~160 ops of asserts in every traced graph).
    return tf.RaggedTensor.from_value_rowids(values, tf.cast(rows, tf.int64),
                                             nrows=tf.cast(num_sentences, tf.int64), validate=False)
