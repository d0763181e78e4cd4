"""Packing documents into pretraining sequences, as BERT's data preparation does.

Consecutive sentences of one document fill a sequence up to `max_length`, so compute
goes to text, not padding. A sentence longer than a sequence is cut into pieces that
fit (no token is dropped). With a probability of `short_sequence_rate` (10 %) a sequence
aims at a random shorter length, so the model also sees short inputs, as fine-tuning
will give it.

With next-sentence prediction each sequence is [CLS] A [SEP] B [SEP]: A is the first
1..k-1 sentences of the packed chunk; B is the rest of it (label 0, "is next") or, half
of the time and always when the chunk is one sentence, text from another document
(label 1, "random"); the chunk's sentences not used then start the next sequence.

Ids are WordPiece ids without [CLS]/[SEP]; `BertTokenizer.pack` adds those.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tfbert.data.pipeline import (PlannedBatches, batch_index, packed_lengths, shared_by_replicas,
                                  tokenize_texts)
from tfbert.data.readers import TextExamples

IS_NEXT, RANDOM_NEXT, NO_NEXT_SENTENCE_LABEL = 0, 1, -1


@dataclasses.dataclass
class PackedSequence:
    first: list  # token ids of segment A
    second: list  # token ids of segment B ([] without next-sentence prediction)
    next_sentence_label: int  # IS_NEXT, RANDOM_NEXT, or NO_NEXT_SENTENCE_LABEL
    document: int = -1  # the index of the document A comes from


def pack_documents(documents, max_length, next_sentence=False, seed=0, short_sequence_rate=0.1):
    """documents: a list of documents, each a list of sentences of token ids.

    Returns a list of `PackedSequence`, in document order. Next-sentence prediction
    needs at least two documents with text (the random B comes from another one).
    """
    budget = max_length - (3 if next_sentence else 2)  # [CLS] A [SEP] (B [SEP])
    if budget < 2:
        raise ValueError(f"max_length {max_length} leaves no room for text.")
    # With next-sentence prediction a one-sentence A leaves B at least one token.
    piece_length = budget - 1 if next_sentence else budget
    documents = [[piece for sentence in document for piece in _fitting(sentence, piece_length)]
                 for document in documents]
    kept = [index for index, document in enumerate(documents) if document]
    documents = [documents[index] for index in kept]
    if next_sentence and len(documents) < 2:
        raise ValueError(f"next-sentence prediction needs at least two documents; the corpus "
                         f"has {len(documents)} with text.")
    rng = np.random.default_rng(seed)
    packed = []
    for index, document in enumerate(documents):
        pack = _pack_with_next_sentence if next_sentence else _pack_alone
        for sequence in pack(documents, index, budget, rng, short_sequence_rate):
            sequence.document = kept[index]
            packed.append(sequence)
    return packed


def _fitting(sentence, length):
    """A sentence longer than `length` tokens as pieces of that length."""
    return [list(sentence[start:start + length]) for start in range(0, len(sentence), length)]


def _target(budget, rng, short_sequence_rate):
    return int(rng.integers(2, budget + 1)) if rng.random() < short_sequence_rate else budget


def _pack_alone(documents, index, budget, rng, short_sequence_rate):
    """Consecutive sentences up to the target length; segment A only."""
    packed, chunk, target = [], [], _target(budget, rng, short_sequence_rate)
    for sentence in documents[index]:
        if chunk and len(chunk) + len(sentence) > budget:
            packed.append(PackedSequence(chunk, [], NO_NEXT_SENTENCE_LABEL))
            chunk, target = [], _target(budget, rng, short_sequence_rate)
        chunk = chunk + sentence
        if len(chunk) >= target:
            packed.append(PackedSequence(chunk, [], NO_NEXT_SENTENCE_LABEL))
            chunk, target = [], _target(budget, rng, short_sequence_rate)
    if chunk:
        packed.append(PackedSequence(chunk, [], NO_NEXT_SENTENCE_LABEL))
    return packed


def _pack_with_next_sentence(documents, index, budget, rng, short_sequence_rate):
    document, packed = documents[index], []
    start = 0
    while start < len(document):
        target = _target(budget, rng, short_sequence_rate)
        end, length = start, 0  # the chunk: sentences [start, end), within the budget
        while end < len(document) and (end == start or length + len(document[end]) <= budget):
            length += len(document[end])
            end += 1
            if length >= target:
                break
        split = start + (int(rng.integers(1, end - start)) if end - start > 1 else 1)
        first = [token for sentence in document[start:split] for token in sentence]
        if end - start == 1 or rng.random() < 0.5:
            second = _random_segment(documents, index, budget - len(first), rng)
            label, start = RANDOM_NEXT, split  # the unused sentences start the next one
        else:
            second = [token for sentence in document[split:end] for token in sentence]
            label, start = IS_NEXT, end
        packed.append(PackedSequence(first, second[:max(budget - len(first), 1)], label))
    return packed


def _random_segment(documents, index, room, rng):
    """Up to `room` tokens (at least one) from a random other document, from a random sentence on."""
    other = int(rng.integers(0, len(documents) - 1))
    other += other >= index  # never the document itself
    sentences = documents[other]
    start = int(rng.integers(0, len(sentences)))
    segment = []
    for sentence in sentences[start:]:
        segment += sentence
        if len(segment) >= room:
            break
    return segment[:max(room, 1)]


@dataclasses.dataclass
class PackedCorpus(PlannedBatches):
    """A corpus tokenized and packed once: what a masked-LM task's fit batches.

    first_ids, second_ids: int32 RaggedTensor [n, (tokens)] (second_ids rows empty
      without next-sentence prediction); next_sentence_labels: int32 [n];
    lengths: packed length of each sequence (what batches are planned from).
    """

    examples: object  # TextExamples: each sequence's document (its line, its start)
    first_ids: tf.RaggedTensor
    second_ids: tf.RaggedTensor
    next_sentence_labels: np.ndarray
    lengths: np.ndarray
    targets: object = None  # made from the inputs themselves, batch by batch
    skipped: int = 0

    def dataset(self, tokenizer, batches, preprocess=None, first_step=0):
        """Batches of packed features and, for `preprocess`, the targets
        {"next_sentence_label": int32 [b], "batch_number": int64 scalar: the run's
        step of this batch, counted from `first_step`}: masks are drawn from it."""
        index = batch_index(batches)
        labels = tf.constant(self.next_sentence_labels, tf.int32)
        with_second = bool(np.any(self.next_sentence_labels != NO_NEXT_SENTENCE_LABEL))

        def load(number, batch_index):
            features = tokenizer.pack(tf.gather(self.first_ids, batch_index),
                                      tf.gather(self.second_ids, batch_index) if with_second
                                      else None)
            if preprocess is None:
                return features
            return preprocess(features, {"next_sentence_label": tf.gather(labels, batch_index),
                                         "batch_number": number + first_step})

        return shared_by_replicas(tf.data.Dataset.from_tensor_slices(index).enumerate()
                .map(tf.autograph.experimental.do_not_convert(load),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))


def pack_corpus(tokenizer, corpus, next_sentence=False, seed=0):
    """Tokenizes every sentence of `corpus` (a `tfbert.data.corpus.Corpus`) and packs
    them to the tokenizer's max_length: a `PackedCorpus`."""
    sentences = [sentence for document in corpus.documents for sentence in document]
    ids = tokenize_texts(tokenizer, sentences).to_list()
    documents, start = [], 0
    for document in corpus.documents:
        documents.append(ids[start:start + len(document)])
        start += len(document)
    packed = pack_documents(documents, tokenizer.max_length, next_sentence, seed)
    if not packed:
        raise ValueError(f"{corpus.source}: no tokens left after tokenization.")
    ragged = lambda rows: tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1, inner_shape=())
    first, second = ragged([p.first for p in packed]), ragged([p.second for p in packed])
    labels = np.array([p.next_sentence_label for p in packed], np.int32)
    starts = [" ".join(document)[:80] for document in corpus.documents]
    examples = TextExamples([starts[p.document] for p in packed], None, None, corpus.source,
                            [corpus.line_numbers[p.document] for p in packed])
    return PackedCorpus(examples, first, second, labels,
                        packed_lengths(tokenizer, first, second if next_sentence else None))
