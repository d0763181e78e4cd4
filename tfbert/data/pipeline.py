"""From raw strings to length-bucketed `tf.data` batches.

Texts are tokenized once, in-graph, by the same `BertTokenizer` that serving uses.
Batches are then planned from the token counts: shuffled, and sorted by length
within windows of `window_batches` batches, so each batch holds texts of similar
length and is padded only to its own longest row (SST-2's median sentence is ~13
tokens; padding everything to 128 would do ~8x the work). The order of batches is
shuffled again, so training does not see short batches first.

The plan is a pure function of (lengths, seed, epoch): an interrupted run that
resumes at step k rebuilds the same plan and skips the k batches already done.
"""

import dataclasses

import numpy as np
import tensorflow as tf

TOKENIZE_BATCH = 1024


def tokenize_texts(tokenizer, texts):
    """WordPiece ids of every text: int32 RaggedTensor [n, (tokens)]."""
    if len(texts) == 0:
        return tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)
    dataset = (
        tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
        .batch(TOKENIZE_BATCH)
        .map(tf.autograph.experimental.do_not_convert(tokenizer.tokenize),
             num_parallel_calls=tf.data.AUTOTUNE)
    )
    return tf.concat(list(dataset), axis=0)


def plan_batches(lengths, batch_size, shuffle, seed=0, epoch=0, window_batches=64):
    """Groups example indices into batches of similar length.

    Args:
      lengths: token count of each example.
      shuffle: False for held-out data (Keras' validation loss, a masked-LM corpus's
        evaluation): windows in input order, batches not shuffled.
      seed, epoch: the shuffle of epoch `epoch` is a pure function of both.
      window_batches: sort by length within windows of this many batches.

    Returns a list of int64 index arrays.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    lengths = np.asarray(lengths)
    count = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(count) if shuffle else np.arange(count)
    window = batch_size * window_batches
    batches = []
    for start in range(0, count, window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def packed_lengths(tokenizer, first_ids, second_ids=None):
    """Length of each example once packed (numpy int32 [n]): `tokenizer.packed_lengths`."""
    return tokenizer.packed_lengths(first_ids, second_ids).numpy()


def batch_index(batches):
    """The planned batches as an int64 RaggedTensor [batches, (rows)]: what a
    `tf.data` pipeline of them iterates over."""
    flat = np.concatenate(batches) if batches else np.zeros([0], np.int64)
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.int64), [len(b) for b in batches])


class PlannedBatches:
    """Batch planning for anything with `lengths` (one packed length per row)."""

    def __len__(self):
        return len(self.lengths)

    def plan(self, batch_size, shuffle, seed=0, epoch=0):
        return plan_batches(self.lengths, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)

    def steps_per_epoch(self, batch_size):
        # Windows hold a whole number of batches, so only the last batch of an epoch
        # is short, shuffled or not: the count needs no plan.
        return -(-len(self) // batch_size)


@dataclasses.dataclass
class TokenizedExamples(PlannedBatches):
    """Examples tokenized once, with their targets: what fit, evaluate and predict batch.

    examples: the `TextExamples` they came from (file and line of each).
    first_ids, second_ids: WordPiece ids, RaggedTensor [n, (tokens)] (second_ids
      None for single texts).
    lengths: packed length of each example (what batches are planned from).
    targets: a numpy array indexed like the examples, a dict of them, or None
      (a task that makes its targets from its inputs, or prediction).
    skipped: examples of the source left out for labels the model does not know.
    """

    examples: object
    first_ids: tf.RaggedTensor
    second_ids: object
    lengths: np.ndarray
    targets: object = None
    skipped: int = 0

    def dataset(self, tokenizer, batches, preprocess=None, first_step=0):
        """first_step: the run's step of the first batch (unused: text targets do not
        depend on it; a masked-LM corpus draws its masks from it)."""
        return make_dataset(tokenizer, self.first_ids, self.second_ids, self.targets, batches,
                            preprocess)


def tokenize_examples(tokenizer, examples, targets=None, skipped=0):
    """A `TokenizedExamples` of `examples` (a TextExamples) and their targets."""
    first = tokenize_texts(tokenizer, examples.texts)
    second = None if examples.text_pairs is None else tokenize_texts(tokenizer, examples.text_pairs)
    return TokenizedExamples(examples, first, second, packed_lengths(tokenizer, first, second),
                             targets, skipped)


def shared_by_replicas(dataset):
    """Marks a dataset of planned batches for tf.distribute: every worker builds the
    same batches (from seed and epoch) and keeps its own rows of each (DATA sharding
    after tf.distribute splits each batch by replica), so a length-bucketed batch is
    one length on every worker. Without the mark tf.distribute first looks for files
    to share out, finds none, warns and does the same."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def make_dataset(tokenizer, first_ids, second_ids, targets, batches, preprocess=None):
    """A dataset of features (or what `preprocess` makes of them) for the planned batches.

    first_ids / second_ids: RaggedTensors from `tokenize_texts` (second_ids None
    for single texts); targets: numpy array (or dict of arrays) indexed like the
    texts, or None. preprocess(features, targets or None) -> (x, y[, sample_weight])
    runs inside the tf.data graph: it is where a task makes its Keras targets (a
    masked-LM task makes them from the features themselves). Without it, batches
    are features alone (prediction).
    """
    index = batch_index(batches)
    targets = None if targets is None else tf.nest.map_structure(tf.constant, targets)

    def load(batch_index):
        features = tokenizer.pack(
            tf.gather(first_ids, batch_index),
            None if second_ids is None else tf.gather(second_ids, batch_index),
        )
        if preprocess is None:
            return features
        batch_targets = (None if targets is None else
                         tf.nest.map_structure(lambda t: tf.gather(t, batch_index), targets))
        return preprocess(features, batch_targets)

    return shared_by_replicas(
        tf.data.Dataset.from_tensor_slices(index)
        .map(tf.autograph.experimental.do_not_convert(load), num_parallel_calls=tf.data.AUTOTUNE,
             deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
