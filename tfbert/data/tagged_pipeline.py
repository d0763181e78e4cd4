"""From sentences of words (and their tags) to length-bucketed `tf.data` batches of windows.

The tagging counterpart of `tfbert.data.pipeline`: each word is tokenized once (every
word gets at least one piece: one that cleaning empties becomes [UNK], so every
given word keeps its tag), sentences are cut into windows that fit BERT
(`word_windows`), and batches of similar-length windows are planned exactly as for
texts (same plan, same resume rule). A window is one row of a batch:

    input_ids, segment_ids, input_mask  int32 [b, T]   [CLS] pieces [SEP]
    word_starts                         int32 [b, W]   position of each word's first piece
    word_mask                           int32 [b, W]   1 on the window's words, 0 on padding

Targets stay per sentence (the tag ids of each word, the sentence label of a joint
model) and are cut into windows as batches are made; a tag the model does not know
is -1, which no loss counts.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tfbert.data.pipeline import TOKENIZE_BATCH, PlannedBatches, batch_index, shared_by_replicas
from tfbert.data.word_windows import word_windows



def word_pieces_of(tokenizer, words):
    """Ragged [B, (words)] strings -> int32 [B, (words), (pieces)], at least one piece
    per word (a word that cleaning empties is [UNK])."""
    per_word = tokenizer.tokenize_words(words).values                     # [NW, (P)]
    empty = tf.cast(per_word.row_lengths() == 0, tf.int64)                  # [NW]
    unknown = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(empty)], tf.constant(tokenizer.unk_id, tf.int32)), empty)
    return words.with_values(tf.concat([per_word, unknown], axis=1))


def tokenize_words(tokenizer, words):
    """Every sentence's word pieces, in batches: int32 [n, (words), (pieces)]."""
    if len(words) == 0:
        return tf.RaggedTensor.from_nested_row_lengths(
            tf.zeros([0], tf.int32), [tf.zeros([0], tf.int64), tf.zeros([0], tf.int64)])
    parts = []
    for start in range(0, len(words), TOKENIZE_BATCH):
        batch = tf.ragged.constant(words[start:start + TOKENIZE_BATCH], dtype=tf.string,
                                   ragged_rank=1, inner_shape=())
        parts.append(word_pieces_of(tokenizer, batch))
    return tf.concat(parts, axis=0)


@dataclasses.dataclass
class TokenizedWords(PlannedBatches):
    """Tagged sentences tokenized once and cut into windows: what fit, evaluate and
    predict batch (one window a row).

    examples: the `TaggedExamples` they came from.
    windows: `word_windows`' dict (piece_ids, word_starts, word_index, answers, sentence).
    lengths: packed length of each window (what batches are planned from).
    targets: per sentence, {"tag_ids": int32 RaggedTensor [n, (words)] (-1: a tag
      the model does not know), "label_ids": int32 [n] (joint models)}, or None.
    skipped: sentences of the source left out for tags or labels the model does not know.
    """

    examples: object
    windows: dict
    lengths: np.ndarray
    targets: dict = None
    skipped: int = 0

    @property
    def num_sentences(self):
        return len(self.examples)

    def dataset(self, tokenizer, batches, preprocess=None, first_step=0):
        """Batches of window features (and, with `preprocess`, what it makes of them
        and the windows' targets). first_step: unused (see `PackedCorpus.dataset`)."""
        index = batch_index(batches)
        windows = self.windows
        tag_ids = None if self.targets is None else self.targets.get("tag_ids")
        label_ids = None if self.targets is None else self.targets.get("label_ids")
        label_ids = None if label_ids is None else tf.constant(label_ids, tf.int32)

        def load(batch_index):
            features = window_features(tokenizer, {key: tf.gather(value, batch_index)
                                                   for key, value in windows.items()})
            if preprocess is None:
                return features
            sentence = tf.gather(windows["sentence"], batch_index)
            targets = {}
            if tag_ids is not None:
                word_index = tf.gather(windows["word_index"], batch_index)          # [b, (W)]
                rows = tf.gather(tag_ids, sentence)                                  # [b, (words)]
                targets["tag_ids"] = tf.gather(rows, word_index, batch_dims=1).to_tensor(-1)
            if label_ids is not None:
                targets["label_ids"] = tf.gather(label_ids, sentence)
            return preprocess(features, targets)

        return shared_by_replicas(tf.data.Dataset.from_tensor_slices(index)
                .map(tf.autograph.experimental.do_not_convert(load),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))


def window_features(tokenizer, windows):
    """A batch of windows (`word_windows`' dict) -> the model's input features."""
    features = tokenizer.pack(windows["piece_ids"])
    starts = windows["word_starts"] + 1                                      # after [CLS]
    features["word_starts"] = starts.to_tensor(0)
    features["word_mask"] = tf.ones_like(starts).to_tensor(0)
    return features


def tokenize_tagged(tokenizer, examples, targets=None, skipped=0, stride=None):
    """A `TokenizedWords` of `examples` (TaggedExamples); windows of the tokenizer's
    max_length - 2 pieces, `stride` pieces apart (default half a window)."""
    window = tokenizer.max_length - 2
    pieces = tokenize_words(tokenizer, examples.words)
    windows = word_windows(pieces, window, stride or max(window // 2, 1))
    lengths = windows["piece_ids"].row_lengths().numpy() + 2
    return TokenizedWords(examples, windows, lengths, targets, skipped)
