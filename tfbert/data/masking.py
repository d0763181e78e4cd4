"""Masked-LM inputs as BERT makes them, drawn inside `tf.data`.

Of each sequence's maskable tokens (not [CLS], [SEP] or padding) a share `rate`
(15 %) is selected, rounded to the nearest count and at least one:
`max(1, round(rate * n))`, as google-research/bert's create_pretraining_data does. Of
the selected tokens 80 % become [MASK], 10 % a random token of the vocabulary and 10 %
stay as they are; the model is asked for the original token at every selected position
and nowhere else (labels of -100 elsewhere).

Why not tf-text's `mask_language_model` (or keras-hub's `MaskedLMMaskGenerator`, which
wraps it): its selector selects `ceil(rate * n)` (2 of a 7-token sentence, 29 %, where
BERT selects 1), and it draws with stateful random ops. A `tf.data` pipeline that is re-iterated
each epoch replays stateful ops from the same seed, so every epoch would see the same
masks (tensorflow#35682), and a resumed run would see different ones. Here every draw
is a stateless function of (seed, the batch's index in the run): masks differ from
batch to batch and epoch to epoch, and a resumed run draws exactly what an
uninterrupted one would.
"""

import tensorflow as tf

IGNORED_LABEL = -100


def mask_tokens(input_ids, maskable, seed, vocab_size, mask_id, rate=0.15,
                mask_share=0.8, random_share=0.1, word_starts=None):
    """Masks a batch for the masked-LM objective.

    Args:
      input_ids: int32 [B, T], the packed sequences.
      maskable: bool [B, T], True where a token may be selected (real tokens that
        are not [CLS] / [SEP]).
      seed: int32/int64 [2], the stateless seed of this batch.
      vocab_size, mask_id: the vocabulary's size and its [MASK] id.
      rate: the share of each row's maskable tokens that is selected.
      mask_share, random_share: of the selected, the shares that become [MASK] and a
        random token (the rest stays).
      word_starts: optional bool [B, T], True on the first piece of each word: then
        whole words are selected (all their pieces or none), words in random order for
        as long as the count stays within round(rate * n) (the first word always).

    Returns (masked_ids int32 [B, T], labels int32 [B, T]: the original id where
    selected, IGNORED_LABEL elsewhere).
    """
    input_ids = tf.convert_to_tensor(input_ids, tf.int32)
    maskable = tf.convert_to_tensor(maskable, tf.bool)
    seed = tf.cast(seed, tf.int64)
    pick_seed, action_seed, token_seed = (tf.random.experimental.stateless_fold_in(seed, i)
                                          for i in range(3))
    shape = tf.shape(input_ids)

    # Select the k lowest random scores of each row's maskable positions.
    count = tf.reduce_sum(tf.cast(maskable, tf.float32), axis=1)                 # [B]
    wanted = tf.where(count > 0, tf.maximum(tf.round(rate * count), 1.0), 0.0)   # [B]
    scores = tf.where(maskable, tf.random.stateless_uniform(shape, pick_seed), 2.0)
    if word_starts is None:
        rank = tf.argsort(tf.argsort(scores, axis=1), axis=1)                    # [B, T]
        selected = tf.logical_and(maskable, tf.cast(rank, tf.float32) < wanted[:, None])
    else:
        selected = _whole_words(scores, maskable, tf.convert_to_tensor(word_starts, tf.bool),
                                wanted)

    # What each selected token becomes: [MASK], a random token, or itself.
    action = tf.random.stateless_uniform(shape, action_seed)                     # [B, T]
    random_ids = tf.random.stateless_uniform(shape, token_seed, minval=0, maxval=vocab_size,
                                             dtype=tf.int32)
    masked = tf.where(action < mask_share, mask_id,
                      tf.where(action < mask_share + random_share, random_ids, input_ids))
    masked_ids = tf.where(selected, masked, input_ids)
    labels = tf.where(selected, input_ids, IGNORED_LABEL)
    return masked_ids, labels


def _whole_words(scores, maskable, word_starts, wanted):
    """Whole-word selection: every piece takes its word's score; words are taken in
    score order while the pieces taken stay within `wanted` (the first word always)."""
    # word[b, t]: the index (in the row) of the word position t belongs to.
    word = tf.cumsum(tf.cast(word_starts, tf.int32), axis=1) - 1                 # [B, T]
    word = tf.maximum(word, 0)
    start_scores = tf.where(word_starts, scores, 3.0)                            # [B, T]
    # A word's score is its first piece's: the minimum over its pieces' start scores.
    word_scores = tf.math.unsorted_segment_min(
        tf.reshape(start_scores, [-1]),
        tf.reshape(word + tf.range(tf.shape(word)[0])[:, None] * tf.shape(word)[1], [-1]),
        tf.size(word))
    piece_scores = tf.gather(word_scores, word + tf.range(tf.shape(word)[0])[:, None]
                             * tf.shape(word)[1])
    piece_scores = tf.where(maskable, piece_scores, 4.0)                          # [B, T]
    # Pieces taken up to and including each piece's word, in score order.
    ordered = tf.sort(piece_scores, axis=1)
    taken = tf.cast(tf.searchsorted(ordered, piece_scores, side="right"), tf.float32)
    first = piece_scores <= ordered[:, :1]
    return tf.logical_and(maskable, tf.logical_or(taken <= wanted[:, None], first))


def maskable_positions(input_ids, input_mask, special_ids):
    """bool [B, T]: real tokens that are none of `special_ids` ([CLS], [SEP], ...)."""
    special = tf.reduce_any(input_ids[..., None] == tf.constant(special_ids, tf.int32), axis=-1)
    return tf.logical_and(input_mask > 0, tf.logical_not(special))


def batch_seed(seed, batch_number):
    """The stateless seed of the run's batch `batch_number` (counted over all epochs)."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(batch_number, tf.int64)])
