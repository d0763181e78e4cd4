"""Extending a checkpoint's vocabulary with the words its tokenizer cannot spell.

MiniLM's English vocabulary maps 79 % of the Chinese characters of KUAKE-QIC's
medical queries to [UNK]: fine-tuning it throws that text away. The fix is the
common one: count the words (for Chinese, the characters) of a corpus that become
[UNK]; those seen at least `min_count` times take the vocabulary's `[unusedN]`
slots first (BERT keeps ~1,000 for this) and are appended after them; the word
embedding table grows to match.

Rows of new tokens start at the mean of the checkpoint's trained rows (the slots
`[unusedN]` held were never trained either, so they are reset too): a new token starts
as "an average token" rather than as noise, and continued masked-LM pretraining on
the domain text then gives it its own meaning. The extended tokenizer and encoder are
ordinary ones: `tfbert.models.checkpoint_writer.save_hugging_face` writes them, and every
export carries the new vocabulary.txt as it carries any other.
"""

import collections
import re

import numpy as np
import tensorflow as tf

from tfbert.models.encoder import BertEncoder
from tfbert.text.tokenizer import BertTokenizer

_UNUSED = re.compile(r"^\[unused\d+\]$")
_BATCH = 1024


def unknown_words(tokenizer, texts, min_count=1):
    """The words of `texts` that `tokenizer` turns into [UNK] (all of the word), with
    their counts, most frequent first (ties in first-seen order); words seen fewer
    than `min_count` times are left out. Returns a list of (word, count)."""
    counts = collections.Counter()
    texts = list(texts)
    for start in range(0, len(texts), _BATCH):
        words = tokenizer.normalized_words(tf.constant(texts[start:start + _BATCH], tf.string))
        pieces = tokenizer.tokenize_words(words)                      # [b, (words), (pieces)]
        flat = pieces.values                                          # [words, (pieces)]
        unknown = tf.logical_and(flat.row_lengths() == 1,
                                 tf.reduce_all(flat == tokenizer.unk_id, axis=1))
        for word in tf.boolean_mask(words.flat_values, unknown).numpy():
            counts[word.decode("utf-8")] += 1
    return [(word, count) for word, count in counts.most_common() if count >= min_count]


def extended_vocabulary(vocabulary, new_tokens):
    """`vocabulary` with `new_tokens` in its [unusedN] slots first, the rest appended.
    Returns (the new vocabulary, the ids the new tokens got)."""
    vocabulary = list(vocabulary)
    known = set(vocabulary)
    fresh = [token for token in dict.fromkeys(new_tokens) if token not in known]
    slots = [i for i, token in enumerate(vocabulary) if _UNUSED.match(token)]
    ids = []
    for token in fresh:
        if slots:
            index = slots.pop(0)
            vocabulary[index] = token
        else:
            index = len(vocabulary)
            vocabulary.append(token)
        ids.append(index)
    return vocabulary, ids


def extend_vocabulary(encoder, tokenizer, new_tokens):
    """A new (encoder, tokenizer) whose vocabulary also holds `new_tokens`.

    The encoder keeps every weight; its word embedding table gains rows, and the rows
    of the new tokens are set to the mean of the trained rows (not [unusedN], not the
    new ones). Returns (encoder, tokenizer, ids of the new tokens).
    """
    vocabulary, new_ids = extended_vocabulary(tokenizer.vocabulary, new_tokens)
    new_tokenizer = BertTokenizer.from_config({**tokenizer.get_config(), "vocabulary": vocabulary})
    config = {**encoder.get_config(), "vocab_size": len(vocabulary)}
    new_encoder = BertEncoder.from_config(config)
    old_table = encoder.get_layer("embeddings").token_embedding.embeddings
    new_table = new_encoder.get_layer("embeddings").token_embedding.embeddings
    for old, new in zip(encoder.weights, new_encoder.weights):  # built alike: same order
        if old is not old_table:
            assert old.shape == new.shape, (old.path, new.path)
            new.assign(old)
    table = np.asarray(old_table.numpy())
    trained = np.ones(len(table), bool)
    trained[[i for i, token in enumerate(tokenizer.vocabulary) if _UNUSED.match(token)]] = False
    grown = np.concatenate([table, np.zeros([len(vocabulary) - len(table), table.shape[1]],
                                            table.dtype)])
    grown[new_ids] = table[trained].mean(axis=0)
    new_table.assign(grown)
    return new_encoder, new_tokenizer, new_ids
