"""Masked-LM pretraining (+ optional next-sentence prediction) on unlabelled text.

Recipe: `task = "pretraining"`, `data.train` a corpus (.txt or .jsonl, several files
with ","), a [pretraining] table. Continued pretraining of a checkpoint on domain text:

    corpus -> sentences -> WordPiece -> packed sequences ([CLS] A [SEP] (B [SEP]))
           -> in tf.data: BERT's masking (tfbert.data.masking), seeded by the step
    masked ids -> BertEncoder -> the selected positions' vectors [b, P, H]
               -> MaskedLMHead (decoder tied to the word embeddings)   [b, P, V]
    pooled output -> NextSentenceHead                                  [b, 2]

The loss is the cross-entropy at the selected positions only (labels of -100 are
ignored), plus next-sentence cross-entropy. `extend_vocabulary = true` first adds the
corpus's [UNK] words seen at least `min_count` times (`tfbert.text.vocabulary`). The result
is written as a Hugging Face checkpoint (`save_artifacts`: <run>/checkpoint) that a
recipe's `checkpoint =` and transformers' BertForPreTraining load.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from tfbert.models.checkpoint import read_checkpoint
from tfbert.models.checkpoint_writer import save_hugging_face
from tfbert.data.corpus import read_corpus
from tfbert.data.masking import (IGNORED_LABEL, batch_seed, mask_tokens,
                                 maskable_positions)
from tfbert.data.pretraining_data import PackedCorpus, pack_corpus
from tfbert.layers.pretraining_heads import (MaskedLMHead, NextSentenceHead, head_state,
                                             load_head_weights)
from tfbert.tasks.answers import PretrainingAnswers
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import PretrainingSection
from tfbert.tasks.task import Task
from tfbert.text.vocabulary import extend_vocabulary, unknown_words

CHECKPOINT_DIR = "checkpoint"


class PretrainingPreprocessor(Preprocessor):
    """A corpus -> packed sequences (`tfbert.data.pretraining_data`), masked per batch
    in tf.data with the batch's own seed: the same batch is masked the same way in any
    run, resumed or not."""

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        self.next_sentence = bool(config["next_sentence"])
        self.mask_rate = float(config["mask_rate"])
        self.whole_word_masking = bool(config["whole_word_masking"])
        self.seed = int(config["seed"])
        self.mask_id = tokenizer.vocabulary.index("[MASK]")
        # True for ids that continue a word ("##ing"): what whole-word masking groups by.
        self.continues_word = tf.constant([token.startswith("##") for token in tokenizer.vocabulary])

    def tokenize(self, x, y=None, targets=True, on_unknown="error"):
        if isinstance(x, PackedCorpus):
            return x
        return pack_corpus(self.tokenizer, x, self.next_sentence, self.seed)

    def preprocess(self, features, targets):
        """Masks the batch (seeded by its step) -> (inputs with masked_positions,
        {"masked_lm_logits": the original ids at those positions, -100 padding, ...})."""
        ids = features["input_ids"]
        maskable = maskable_positions(ids, features["input_mask"],
                                      [self.tokenizer.cls_id, self.tokenizer.sep_id])
        word_starts = (tf.logical_not(tf.gather(self.continues_word, ids))
                       if self.whole_word_masking else None)
        masked_ids, labels = mask_tokens(ids, maskable, batch_seed(self.seed, targets["batch_number"]),
                                         self.tokenizer.vocabulary_size, self.mask_id, self.mask_rate,
                                         word_starts=word_starts)
        selected = labels != IGNORED_LABEL                                          # [b, T]
        positions = tf.ragged.boolean_mask(
            tf.broadcast_to(tf.range(tf.shape(ids)[1]), tf.shape(ids)), selected)     # [b, (P)]
        x = {**features, "input_ids": masked_ids, "masked_positions": positions.to_tensor(0)}
        y = {"masked_lm_logits": tf.ragged.boolean_mask(labels, selected).to_tensor(IGNORED_LABEL)}
        if self.next_sentence:
            y["next_sentence_logits"] = targets["next_sentence_label"]
        return x, y


class PretrainingPostprocessor(Postprocessor, PretrainingAnswers):
    """A pretraining model is scored (`PretrainingAnswers`), not served: no
    `postprocess`."""


@register_task("pretraining")
@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLanguageModel(Task):
    """BERT's pretraining objectives on an encoder: masked LM (+ next sentence)."""

    recipe_section = PretrainingSection
    default_eval_metric = recipe_section.default_eval_metric
    preprocessor_class = PretrainingPreprocessor
    postprocessor_class = PretrainingPostprocessor

    def __init__(self, encoder, tokenizer, next_sentence=False, mask_rate=0.15,
                 whole_word_masking=False, seed=0, new_token_ids=(),
                 new_token_learning_rate_multiplier=1.0, pair=False, dropout=None, **kwargs):
        super().__init__(encoder, tokenizer, pair=False, **kwargs)
        # The base class has turned configs (a model.keras being loaded) into objects.
        encoder, tokenizer = self.encoder, self.tokenizer
        vocabulary = tokenizer.vocabulary
        if "[MASK]" not in vocabulary:
            raise ValueError("the vocabulary has no [MASK] token; masked-LM pretraining needs one.")
        if len(vocabulary) != encoder.bert_config.vocab_size:
            raise ValueError(f"the tokenizer has {len(vocabulary)} tokens but the encoder's "
                             f"vocab_size is {encoder.bert_config.vocab_size}.")
        self.mask_id = vocabulary.index("[MASK]")
        if encoder.bert_config.embedding_width != encoder.bert_config.hidden_size:
            raise ValueError(f"masked-LM pretraining scores words against the token embedding "
                             f"table, which must be as wide as the hidden states "
                             f"({encoder.bert_config.hidden_size}); this {encoder.bert_config.model_type} "
                             f"encoder's is {encoder.bert_config.embedding_width}.")
        if next_sentence and encoder.bert_config.type_vocab_size == 0:
            raise ValueError(f"next-sentence prediction tells a pair's two segments apart, and a "
                             f"{encoder.bert_config.model_type} encoder has no segment embedding: "
                             "set next_sentence = false ([pretraining]).")
        self.next_sentence = bool(next_sentence)
        self.mask_rate = float(mask_rate)
        self.whole_word_masking = bool(whole_word_masking)
        self.seed = int(seed)
        # The vocabulary extension's rows, which compile() gives a learning rate of their own.
        self.new_token_ids = sorted(int(i) for i in new_token_ids)
        if self.new_token_ids and not 0 <= self.new_token_ids[0] <= self.new_token_ids[-1] < len(vocabulary):
            raise ValueError(f"new_token_ids must be ids of the vocabulary (0..{len(vocabulary) - 1}); "
                             f"got {self.new_token_ids[0]}..{self.new_token_ids[-1]}.")
        self.new_token_learning_rate_multiplier = float(new_token_learning_rate_multiplier)
        config = encoder.bert_config
        self.masked_lm = MaskedLMHead(config.vocab_size, config.hidden_size, config.hidden_act,
                                      config.layer_norm_epsilon, encoder.initializer_range,
                                      dtype=encoder.dtype_policy, name="masked_lm")
        self.next_sentence_head = (NextSentenceHead(encoder.initializer_range, dtype="float32",
                                                    name="next_sentence")
                                   if self.next_sentence else None)
        self.build_from_tokens()

    @classmethod
    def from_recipe(cls, section, train_examples, encoder, tokenizer, seed=0, **common):
        ids = []
        if section.extend_vocabulary:
            sources = [train_examples]
            extra = [part.strip() for part in section.vocabulary_files.split(",") if part.strip()]
            if extra:
                sources.append(read_corpus(extra, text_key=section.text_key))
            sentences = [s for corpus in sources for document in corpus.documents for s in document]
            words = unknown_words(tokenizer, sentences, section.min_count)
            encoder, tokenizer, ids = extend_vocabulary(encoder, tokenizer, [w for w, _ in words])
            print(f"vocabulary: {len(ids)} words of {', '.join(c.source for c in sources)} seen at "
                  f"least {section.min_count} times were [UNK]; added (now "
                  f"{len(tokenizer.vocabulary)})")
        return cls(encoder, tokenizer, next_sentence=section.next_sentence,
                   mask_rate=section.mask_rate, whole_word_masking=section.whole_word_masking,
                   seed=seed, new_token_ids=ids,
                   new_token_learning_rate_multiplier=section.new_token_learning_rate_multiplier,
                   **common)

    def load_pretrained_heads(self, checkpoint_dir):
        """The heads' weights from the checkpoint the encoder came from, where it has
        them (Hugging Face `cls.*`, Google `cls/*`); returns the heads loaded."""
        checkpoint = read_checkpoint(checkpoint_dir)
        if checkpoint.config.vocab_size != self.encoder.bert_config.vocab_size:
            return []  # an extended vocabulary: the old output bias does not fit
        return load_head_weights(checkpoint, self.masked_lm, self.next_sentence_head)

    @classmethod
    def from_pretrained(cls, checkpoint, max_length=128, next_sentence=False):
        """A checkpoint with its pretraining heads (the masked-LM head is required:
        `fill_mask` is meaningless with a fresh one)."""
        from tfbert.models.encoder import BertEncoder
        from tfbert.models.pretrained import resolve_checkpoint_dir
        from tfbert.text.tokenizer import BertTokenizer

        directory = resolve_checkpoint_dir(checkpoint)
        task = cls(BertEncoder.from_pretrained(directory),
                   BertTokenizer.from_pretrained(directory, max_length=max_length),
                   next_sentence=next_sentence)
        if "masked LM" not in task.load_pretrained_heads(directory):
            raise ValueError(f"{checkpoint} has no masked-LM head (cls.predictions.*): fill-mask "
                             "needs a checkpoint that was pretrained with one, such as what "
                             "`tfbert train recipes/pretrain.toml` writes.")
        return task

    def fill_mask(self, texts, top_k=5):
        """For each text, for each "[MASK]" in it: the `top_k` (token, probability)."""
        results = []
        for text in texts:
            parts = self.tokenizer.tokenize(text.split("[MASK]")).to_list()
            if len(parts) < 2:
                raise ValueError(f"no [MASK] in {text!r}: write [MASK] where a word is missing.")
            ids = parts[0]
            for part in parts[1:]:
                ids = ids + [self.mask_id] + part
            features = self.tokenizer.pack(tf.ragged.constant([ids], tf.int32))
            positions = [i for i, token in enumerate(features["input_ids"][0].numpy())
                         if token == self.mask_id]
            if not positions:
                raise ValueError(f"{text!r} is longer than max_length: its [MASK] was cut off.")
            logits = self({**features, "masked_positions": tf.constant([positions], tf.int32)},
                          training=False)["masked_lm_logits"][0]                   # [P, V]
            probabilities = tf.nn.softmax(logits).numpy()
            vocabulary = self.tokenizer.vocabulary
            results.append([[(vocabulary[i], float(row[i])) for i in np.argsort(-row)[:top_k]]
                            for row in probabilities])
        return results

    # ------------------------------------------------------------------ model

    def compile(self, optimizer="adamw", **kwargs):
        """Task.compile; then the added tokens' rows get their own rate (when the
        multiplier is not 1 and the optimizer is tfbert's, which can scale rows)."""
        super().compile(optimizer=optimizer, **kwargs)
        if self.new_token_ids and self.new_token_learning_rate_multiplier != 1.0:
            if not hasattr(self.optimizer, "scale_rows"):
                raise ValueError(
                    "new_token_learning_rate_multiplier needs an optimizer that can scale "
                    "rows (tfbert.training.optimizer.AdamWWithHeadRate, what `tfbert train` "
                    f"uses); got {type(self.optimizer).__name__}.")
            table = self.encoder.get_layer("embeddings").token_embedding.embeddings
            self.optimizer.scale_rows(table, self.new_token_ids,
                                      self.new_token_learning_rate_multiplier)
            print(f"new tokens: {len(self.new_token_ids)} embedding rows step at "
                  f"{self.new_token_learning_rate_multiplier:g}x the learning rate")

    @property
    def reads_pooled_output(self):
        return self.next_sentence

    def tiny_batch(self):
        features = self.tokenizer(["a"], ["b"] if self.next_sentence else None)
        return {**features, "masked_positions": tf.constant([[1]], tf.int32)}

    def call(self, inputs, training=None):
        encoder_outputs = self.encoder(
            {key: inputs[key] for key in ("input_ids", "segment_ids", "input_mask")},
            training=training)
        sequence = encoder_outputs["sequence_output"]                              # [b, T, H]
        selected = tf.gather(sequence, inputs["masked_positions"], batch_dims=1)   # [b, P, H]
        table = self.encoder.get_layer("embeddings").token_embedding.embeddings     # [V, H]
        outputs = {"masked_lm_logits": self.masked_lm(selected, table)}            # [b, P, V]
        if self.next_sentence_head is not None:
            pooled = tf.cast(encoder_outputs["pooled_output"], tf.float32)
            outputs["next_sentence_logits"] = self.next_sentence_head(pooled)      # [b, 2]
        return outputs

    def default_loss(self):
        loss = {"masked_lm_logits": keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=IGNORED_LABEL)}
        if self.next_sentence:
            loss["next_sentence_logits"] = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True)
        return loss

    def default_metrics(self):
        metrics = {"masked_lm_logits": [MaskedLMAccuracy(name="accuracy")]}
        if self.next_sentence:
            metrics["next_sentence_logits"] = [keras.metrics.SparseCategoricalAccuracy(
                name="accuracy")]
        return metrics

    # ------------------------------------------------------------------ data

    # ------------------------------------------------------------ evaluation

    def predict(self, x, batch_size=32, **kwargs):
        """A held-out corpus (or its `PackedCorpus`) -> per sequence: "masked" (tokens
        selected), "restored" (of those, predicted right), "loss" (their summed
        cross-entropy) and, with next-sentence prediction, "next_sentence_right".
        Masks are those of an unshuffled run from step 0: the same every evaluation."""
        data = self.tokenize(x)
        batches = data.plan(batch_size, shuffle=False)
        run = _SCORERS.get(self)
        if run is None:  # one tf.function per task (as an attribute, saving would trace it)
            run = _SCORERS[self] = tf.function(
                lambda x, y: _sequence_scores(self(x, training=False), y), reduce_retracing=True,
                autograph=False)
        parts = {}
        for x_batch, y_batch in data.dataset(self.tokenizer, batches, self.preprocessor.preprocess):
            for key, value in run(x_batch, y_batch).items():
                parts.setdefault(key, []).append(value.numpy())
        order = np.argsort(np.concatenate(batches), kind="stable")  # back to corpus order
        return {key: np.concatenate(values)[order] for key, values in parts.items()}

    # ------------------------------------------------------------ results

    def save_artifacts(self, directory):
        """Writes the encoder, its vocabulary and both heads as a Hugging Face checkpoint
        in <directory>/checkpoint (replacing an earlier one of this run)."""
        path = save_hugging_face(
            directory / CHECKPOINT_DIR, self.encoder, self.tokenizer,
            head_weights=head_state(self.masked_lm, self.next_sentence_head),
            architecture="BertForPreTraining" if self.next_sentence else "BertForMaskedLM",
            overwrite=True)
        print(f"checkpoint written: {path} (checkpoint = \"{path}\" in a recipe)")
        return path

    def plain_config(self):
        return {**super().plain_config(), "next_sentence": self.next_sentence,
                "mask_rate": self.mask_rate, "whole_word_masking": self.whole_word_masking,
                "seed": self.seed, "new_token_ids": self.new_token_ids,
                "new_token_learning_rate_multiplier": self.new_token_learning_rate_multiplier}


_SCORERS = weakref.WeakKeyDictionary()


def _sequence_scores(outputs, targets):
    """Per row of a batch: masked count, restored count, summed cross-entropy (and
    whether next-sentence prediction was right)."""
    labels = tf.cast(targets["masked_lm_logits"], tf.int32)                        # [b, P]
    selected = labels != IGNORED_LABEL
    logits = outputs["masked_lm_logits"]                                            # [b, P, V]
    safe = tf.where(selected, labels, 0)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
    right = tf.argmax(logits, axis=-1, output_type=tf.int32) == labels
    count = lambda values: tf.reduce_sum(tf.cast(values, tf.float32) *
                                         tf.cast(selected, tf.float32), axis=1)
    scores = {"masked": count(selected), "restored": count(right), "loss": count(nll)}
    if "next_sentence_logits" in outputs:
        predicted = tf.argmax(outputs["next_sentence_logits"], axis=-1, output_type=tf.int32)
        scores["next_sentence_right"] = tf.cast(
            predicted == tf.cast(targets["next_sentence_logits"], tf.int32), tf.float32)
    return scores


@keras.saving.register_keras_serializable(package="tfbert")
class MaskedLMAccuracy(keras.metrics.Mean):
    """The share of selected positions whose original token ranks first (-100: not selected)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.int32)
        right = tf.cast(tf.argmax(y_pred, axis=-1, output_type=tf.int32) == y_true, tf.float32)
        return super().update_state(right, sample_weight=tf.cast(y_true != IGNORED_LABEL,
                                                                 tf.float32))

