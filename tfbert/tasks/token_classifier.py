"""Token tagging: named entities and slots, one tag per word, softmax or CRF.

Recipe: `task = "token_classification"`, with a [token_classification] table.

    window pieces -> BertEncoder -> the first piece of each word   [b, W, H]
                  -> dropout -> dense                               [b, W, C] tag scores
                  -> CRF (Viterbi) or argmax                        [b, W] tags

A word's tag is read from its first WordPiece (the other pieces of a word are not
scored). Sentences longer than the encoder takes are cut into overlapping windows
(`tfbert.data.word_windows`), so every word is tagged. Tags are read from the data
in its declared scheme (IOB1, IOB2, BIOES, BMES), strictly: a sequence the scheme does
not allow is an error naming the file and line. The model tags in IOB2 (from IOB1 or
IOB2 data), BIOES or BMES; entities are read from its tags as conlleval does.

Served (`serving_default`, raw text tf.string [B]; in-process `predict` returns the
same, with offsets as str indices):

    entity_text   string [B, E]   the entity as written in the input ("" past entity_count)
    entity_type   string [B, E]
    entity_start  int32  [B, E]   UTF-8 byte offsets into the row's text (-1 past the
    entity_end    int32  [B, E]   count): text.encode()[start:end].decode() is the entity
    entity_count  int32  [B]
`predict_words` takes words already split (tf.string [B, W], "" as padding) and
returns `tags` tf.string [B, W] ("" past each row's words).
"""

import keras
import numpy as np
import tensorflow as tf

from tfbert.data.entity_spans import entity_spans
from tfbert.data.tag_schemes import (SCHEMES, TagSequenceError, allowed_transitions,
                                     model_scheme, spans_from_tags, split_tag, tags_from_spans)
from tfbert.data.tagged_pipeline import (TokenizedWords, tokenize_tagged, window_features,
                                         word_pieces_of)
from tfbert.data.tagged_readers import TaggedExamples
from tfbert.data.word_windows import answered, word_windows
from tfbert.layers.cls_head import ClsPoolingHead
from tfbert.layers.crf import CRF, CRFLoss
from tfbert.inference.engine import CHUNK_SIZE, run_by_length, used_lengths
from tfbert.tasks.answers import TaggingAnswers
from tfbert.tasks.postprocessor import Postprocessor
from tfbert.tasks.preprocessor import Preprocessor
from tfbert.tasks.registry import register_task
from tfbert.tasks.sections import TokenClassificationSection
from tfbert.tasks.task import PREDICT_WINDOW_BATCHES, Task, as_numpy, compiled
from tfbert.text.offsets import with_char_offsets

_PREFIXES = {"iob2": ("B", "I"), "bioes": ("B", "I", "E", "S"), "bmes": ("B", "M", "E", "S")}


def tag_names_for(spans_types, scheme):
    """The model's tags: "O", then every prefix of the scheme for each entity type."""
    return ["O"] + [f"{prefix}-{type_}" for type_ in sorted(spans_types)
                    for prefix in _PREFIXES[scheme]]


class TaggingPreprocessor(Preprocessor):
    """Sentences of words and their tags (in the data's scheme) -> the model's tag ids per
    word, cut into windows the encoder takes (`tfbert.data.tagged_pipeline`); with an
    intent head, each sentence's intent id too."""

    def __init__(self, tokenizer, config):
        super().__init__(tokenizer, config)
        self.tag_names = list(config["tag_names"])
        self.scheme = config["scheme"]
        self.invalid_sequences = config["invalid_sequences"]
        self.intent_names = config.get("intent_names")

    def as_examples(self, x, y=None):
        if isinstance(x, TaggedExamples):
            return x
        if isinstance(x, (list, tuple)) and all(isinstance(s, (list, tuple)) for s in x):
            return TaggedExamples.given([[str(w) for w in s] for s in x],
                                        None if y is None else [[str(t) for t in s] for s in y])
        raise TypeError("token tagging takes TaggedExamples, or a list of sentences, each a "
                        "list of words (with y a list of tag lists); raw texts go to predict().")

    def tokenize(self, x, y=None, targets=True, on_unknown="error"):
        if isinstance(x, TokenizedWords):
            return x
        examples = self.as_examples(x, y)
        if not targets or examples.tags is None:
            return tokenize_tagged(self.tokenizer, examples)
        encoded, kept, skipped = self.encode_targets(examples, on_unknown=on_unknown)
        if skipped:
            examples = examples.select(kept)
        return tokenize_tagged(self.tokenizer, examples, encoded, skipped)

    def encode_targets(self, examples, on_unknown="error"):
        """{"tag_ids": int32 ragged [n, (words)] (-1 for a tag the model does not know
        under on_unknown="keep"), "gold_tags": the model-scheme tags}; a sequence the
        scheme forbids, or (on_unknown="error") an unknown tag, names file and line.
        With an intent head also "label_ids" int32 [n] (-1: an intent the model does
        not know, kept under on_unknown="keep") and "gold_intents"."""
        if on_unknown not in ("error", "skip", "keep"):
            raise ValueError(f"on_unknown must be error, skip or keep; got {on_unknown!r}.")
        if self.intent_names is None:
            return self.encode_tags(examples, on_unknown)
        if examples.labels is None:
            raise ValueError(f"{examples.source}: no intents were read; set "
                             "intent_and_slots.intent_column.")
        index = {name: i for i, name in enumerate(self.intent_names)}
        unknown_intent = [i for i, label in enumerate(examples.labels) if label not in index]
        if unknown_intent and on_unknown == "error":
            i = unknown_intent[0]
            raise ValueError(f"{examples.location(i)}: intent {examples.labels[i]!r} is not one "
                             f"the model knows ({len(self.intent_names)} intents). Set "
                             "data.on_unknown_label to 'keep' (scored as wrong) or 'skip'.")
        if unknown_intent and on_unknown == "skip":
            keep = sorted(set(range(len(examples))) - set(unknown_intent))
            targets, kept, skipped = self.encode_tags(examples.select(keep), on_unknown)
            kept = np.asarray(keep, np.int64)[kept]
            skipped += len(unknown_intent)
        else:
            targets, kept, skipped = self.encode_tags(examples, on_unknown)
        targets["label_ids"] = np.array([index.get(examples.labels[i], -1) for i in kept], np.int32)
        targets["gold_intents"] = [examples.labels[i] for i in kept]
        return targets, kept, skipped

    def encode_tags(self, examples, on_unknown):
        """encode_targets' tags alone."""
        index = {name: i for i, name in enumerate(self.tag_names)}
        target_scheme = model_scheme(self.scheme)
        kept, tag_ids, gold = [], [], []
        for i in range(len(examples)):
            spans = _read_spans(examples, i, self.scheme, self.invalid_sequences == "skip")
            if spans is None:
                continue
            tags = tags_from_spans(spans, len(examples.words[i]), target_scheme)
            ids = [index.get(tag, -1) for tag in tags]
            if -1 in ids and on_unknown == "error":
                k = ids.index(-1)
                known = ", ".join(sorted({split_tag(t)[1] for t in self.tag_names} - {None}))
                raise ValueError(f"{examples.location(i, k)}: tag {tags[k]!r} is not one the "
                                 f"model knows (entity types: {known}). Set data.on_unknown_label "
                                 "to 'keep' (score its entities as missed) or 'skip'.")
            if -1 in ids and on_unknown == "skip":
                continue
            kept.append(i)
            tag_ids.append(ids)
            gold.append(tags)
        targets = {"tag_ids": tf.ragged.constant(tag_ids, dtype=tf.int32, ragged_rank=1,
                                                 inner_shape=()) if tag_ids else
                   tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32),
                                                    tf.zeros([0], tf.int64)),
                   "gold_tags": gold, "words": [examples.words[i] for i in kept]}
        return targets, np.asarray(kept, np.int64), len(examples) - len(kept)

    def preprocess(self, features, targets):
        y = {"tag_logits": targets["tag_ids"]}
        if self.intent_names is not None:
            y["intent_logits"] = targets["label_ids"]
        return features, y


class TaggingPostprocessor(Postprocessor, TaggingAnswers):
    """Each word's predicted tag id -> entities with their byte offsets in the text, or
    tag names per word (and the intent head's answer), in TF ops."""

    def postprocess(self, predicted, assets):
        """predicted: "tag_ids" int32 ragged [B, (words)], "text" tf.string [B], each
        word's "word_begins" and "word_ends" (UTF-8 bytes, ragged [B, (words)]), and
        with an intent head "intent_probabilities" [B, K] -> the served entities."""
        types, first, last = entity_spans(predicted["tag_ids"], self.tag_names)   # [B, (E)]
        begins, ends, text = predicted["word_begins"], predicted["word_ends"], predicted["text"]
        word_at = lambda offsets, index: tf.gather(offsets.flat_values, tf.cast(  # noqa: E731
            index.flat_values, tf.int64) + tf.gather(offsets.row_starts(), index.value_rowids()))
        start = tf.cast(word_at(begins, first), tf.int32)
        end = tf.cast(word_at(ends, last), tf.int32)
        rows = first.value_rowids()
        entity_text = tf.strings.substr(tf.gather(text, rows), start, end - start, unit="BYTE")
        as_rows = lambda values, pad: first.with_flat_values(values).to_tensor(pad)  # noqa: E731
        return {"entity_text": as_rows(entity_text, ""), "entity_type": types.to_tensor(""),
                "entity_start": as_rows(start, -1), "entity_end": as_rows(end, -1),
                "entity_count": tf.cast(first.row_lengths(), tf.int32),
                **self.intent_outputs(predicted)}

    def word_tags(self, predicted):
        """predicted "tag_ids" (ragged or padded [B, W]) -> "tags", tf.string (+ intent)."""
        return {"tags": tf.gather(tf.constant(self.tag_names), predicted["tag_ids"]),
                **self.intent_outputs(predicted)}

    def intent_outputs(self, predicted):
        """The intent head's served outputs from its averaged probabilities [B, K]:
        intent string [B], intent_id int32 [B], intent_probabilities; none without it."""
        if self.intent_names is None:
            return {}
        probabilities = predicted["intent_probabilities"]                        # [B, K]
        intent_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"intent": tf.gather(tf.constant(self.intent_names), intent_id),
                "intent_id": intent_id, "intent_probabilities": probabilities}


@register_task("token_classification")
@keras.saving.register_keras_serializable(package="tfbert")
class TokenClassifier(Task):
    """BERT + a tag per word (softmax or CRF) for named entities and slots.

    Args:
      encoder, tokenizer: as for every task.
      tag_names: the model's tags ("O", "B-PER", ...), in the model's scheme.
      scheme: how training/evaluation data spells its tags (iob1, iob2, bioes, bmes).
      crf: decode with a CRF; constrain: the CRF never predicts a transition the
        scheme forbids; crf_learning_rate_multiplier: see `tfbert.layers.CRF`.
      intent_names: with them, one more head: a [CLS] intent per sentence, trained
        beside the tags (the joint model, `IntentAndSlots`, whose examples carry an
        intent label each).
    """

    recipe_section = TokenClassificationSection
    default_eval_metric = "f1"
    preprocessor_class = TaggingPreprocessor
    postprocessor_class = TaggingPostprocessor

    def __init__(self, encoder, tokenizer, tag_names, scheme="iob2", crf=True, constrain=True,
                 crf_learning_rate_multiplier=100.0, invalid_sequences="error", dropout=0.1,
                 pair=False, intent_names=None, **kwargs):
        if pair:
            raise ValueError("token tagging takes single sentences, not text pairs.")
        super().__init__(encoder, tokenizer, pair=False, **kwargs)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not one of: {', '.join(SCHEMES)}.")
        self.tag_names = [str(name) for name in tag_names]
        if len(set(self.tag_names)) != len(self.tag_names) or "O" not in self.tag_names:
            raise ValueError(f"tag_names must be distinct and hold 'O'; got {self.tag_names}.")
        self.scheme = scheme
        self.invalid_sequences = invalid_sequences
        self.use_crf = bool(crf)
        self.constrain = bool(constrain)
        self.crf_learning_rate_multiplier = float(crf_learning_rate_multiplier)
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(dropout, dtype="float32")
        self.tag_dense = keras.layers.Dense(
            len(self.tag_names), kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype="float32", name="tag_dense")
        self.crf = None
        if self.use_crf:
            allowed = (allowed_transitions(self.tag_names, model_scheme(scheme)) if constrain
                       else (None, None, None))
            self.crf = CRF(len(self.tag_names), *allowed,
                           learning_rate_multiplier=self.crf_learning_rate_multiplier, name="crf")
        self.intent_names = None if intent_names is None else [str(name) for name in intent_names]
        self.intent_head = None
        if self.intent_names is not None:
            if len(set(self.intent_names)) != len(self.intent_names) or not self.intent_names:
                raise ValueError(f"intent_names must be distinct and not empty; got {intent_names}.")
            self.intent_head = ClsPoolingHead(len(self.intent_names), dropout=dropout,
                                              dtype=self.encoder.dtype_policy, name="intent_head")
        self.build_from_tokens()

    @classmethod
    def from_recipe(cls, section, train_examples, **common):
        return cls(tag_names=cls.tag_names_of(section, train_examples),
                   **cls.tagging_options(section), **common)

    @staticmethod
    def tagging_options(section):
        return dict(scheme=section.scheme, crf=section.crf, constrain=section.constrain,
                    crf_learning_rate_multiplier=section.crf_learning_rate_multiplier,
                    invalid_sequences=section.invalid_sequences)

    @staticmethod
    def tag_names_of(section, examples):
        """The model's tags for the entity types of the training data."""
        types = set()
        for i in range(len(examples)):
            spans = _read_spans(examples, i, section.scheme, section.invalid_sequences == "skip")
            types.update(type_ for type_, _, _ in spans or [])
        return tag_names_for(types, model_scheme(section.scheme))

    # ------------------------------------------------------------------ model

    def tiny_batch(self):
        features = self.tokenizer(["a"])
        return {**features, "word_starts": tf.constant([[1]]), "word_mask": tf.constant([[1]])}

    def call(self, inputs, training=None):
        encoder_inputs = {key: inputs[key] for key in ("input_ids", "segment_ids", "input_mask")}
        encoder_outputs = self.encoder(encoder_inputs, training=training)
        sequence = encoder_outputs["sequence_output"]                          # [b, T, H]
        starts = tf.cast(inputs["word_starts"], tf.int32)
        words = tf.gather(sequence, starts, batch_dims=1)                      # [b, W, H]
        words = self.dropout_layer(tf.cast(words, tf.float32), training=training)
        outputs = {"tag_logits": self.tag_dense(words)}                        # [b, W, C]
        if self.intent_head is not None:
            outputs["intent_logits"] = self.intent_head(encoder_outputs, inputs["input_mask"],
                                                        training=training)    # [b, K]
        return outputs

    @property
    def reads_pooled_output(self):
        return self.intent_head is not None  # the intent head reads the pooled [CLS]

    def default_loss(self):
        losses = {"tag_logits": CRFLoss(self.crf) if self.crf is not None else
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)}
        if self.intent_head is not None:
            losses["intent_logits"] = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=-1)
        return losses

    def compile(self, optimizer="adamw", **kwargs):
        optimizer = keras.optimizers.get(optimizer)
        if self.crf is not None and not optimizer.built:
            # A decayed transition matrix is pulled back to zero: the opposite of what
            # its larger learning rate is for.
            optimizer.exclude_from_weight_decay(var_list=self.crf.weights)
        super().compile(optimizer=optimizer, **kwargs)

    # -------------------------------------------------------------- prediction

    def infer(self, features):
        """A chunk of window features -> {"tag_ids": int32 [b, W]} (+ the joint model's
        intent probabilities [b, K]): what the engine runs, XLA-compiled or not."""
        outputs = self(features, training=False)
        logits = tf.cast(outputs["tag_logits"], tf.float32)
        lengths = tf.reduce_sum(features["word_mask"], axis=1)
        if self.crf is not None:
            tag_ids = self.crf.decode(logits, lengths)[0]
        else:
            tag_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if self.intent_head is None:
            return {"tag_ids": tag_ids}
        return {"tag_ids": tag_ids,
                "intent_probabilities": tf.nn.softmax(tf.cast(outputs["intent_logits"], tf.float32))}

    def inference_specs(self, width):
        """The engine's output specs: tag ids of `width` words, and each head's."""
        with tf.init_scope():
            heads = self.infer(self.tiny_batch())
        return {"tag_ids": (tf.int32, [width]),
                **{name: (value.dtype, value.shape[1:].as_list())
                   for name, value in heads.items() if name != "tag_ids"}}

    def sentence_predictions(self, word_pieces, infer=None, chunk_size=CHUNK_SIZE):
        """Word pieces of sentences, int32 [B, (words), (pieces)] -> {"tag_ids": int32
        ragged [B, (words)]} (+ head predictions averaged over a sentence's windows).
        Windows run through the inference engine, shortest first."""
        window = self.tokenizer.max_length - 2
        windows = word_windows(word_pieces, window, max(window // 2, 1))
        sentences = word_pieces.nrows(out_type=tf.int32)
        # At least one column: a chunk of windows of no words still has a shape.
        width = tf.maximum(tf.cast(tf.reduce_max(windows["word_starts"].row_lengths()),
                                   tf.int32), 1)
        rows = {key: windows[key] for key in ("piece_ids", "word_starts")}
        predicted = run_by_length(
            lambda chunk, longest: (infer or self.infer)(window_features(self.tokenizer, chunk)),
            rows, windows["piece_ids"].row_lengths() + 2, self.inference_specs(width), chunk_size)
        result = {"tag_ids": answered(predicted.pop("tag_ids"), windows, sentences)}
        for name, values in predicted.items():
            result[name] = tf.math.unsorted_segment_mean(values, windows["sentence"], sentences)
        return result

    def named_outputs(self, texts, pairs=None, assets=None, infer=None, chunk_size=CHUNK_SIZE):
        """Raw texts tf.string [B] -> the served outputs (entities with byte offsets)."""
        if pairs is not None:
            raise ValueError("token tagging takes single texts, not text pairs.")
        text = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD)
        words, begins, ends = self.tokenizer.split_words_with_offsets(text)
        pieces = self.tokenizer.tokenize_words(words)
        # A "word" of characters that tokenization removes is not a word.
        keep = pieces.row_lengths(axis=2) > 0
        begins, ends = _kept_words(begins, keep), _kept_words(ends, keep)
        predicted = self.sentence_predictions(_kept_words(pieces, keep), infer, chunk_size)
        return self.postprocessor.postprocess(
            {**predicted, "text": text, "word_begins": begins, "word_ends": ends},
            self.asset_tensors() if assets is None else assets)

    def word_outputs(self, words, infer=None, chunk_size=CHUNK_SIZE):
        """Sentences already split into words, tf.string ragged [B, (words)] ->
        {"tags": tf.string ragged [B, (words)]} (+ the joint model's intent)."""
        predicted = self.sentence_predictions(word_pieces_of(self.tokenizer, words), infer,
                                              chunk_size)
        return self.postprocessor.word_tags(predicted)

    def id_inputs(self):
        return ["input_ids", "segment_ids", "input_mask", "word_starts", "word_mask"]

    def named_outputs_of_ids(self, features, assets=None, infer=None, chunk_size=CHUNK_SIZE):
        """Window features a client made itself (`id_inputs`, as
        `tfbert.data.tagged_pipeline.window_features` makes them) -> {"tags":
        tf.string [B, W] ("" where word_mask is 0)} (+ the joint model's intent)."""
        width = tf.shape(features["word_starts"])[1]
        predicted = run_by_length(
            lambda chunk, longest: (infer or self.infer)(
                {name: value[:, :longest] for name, value in chunk.items()}),
            features, used_lengths(features["input_mask"]), self.inference_specs(width),
            chunk_size)
        outputs = self.postprocessor.word_tags(predicted)
        return {**outputs, "tags": tf.where(features["word_mask"] > 0, outputs["tags"], "")}

    def extra_signatures(self, assets, infer, chunk_size):
        """predict_words: pre-split words tf.string [B, W] ("" padding) -> {"tags":
        tf.string [B, W]} ("" past each row's words)."""
        def predict_words(words):
            outputs = self.word_outputs(tf.RaggedTensor.from_tensor(words, padding=""), infer,
                                        chunk_size)
            return {**outputs, "tags": outputs["tags"].to_tensor("")}

        return {"predict_words": (predict_words,
                                  [tf.TensorSpec([None, None], tf.string, name="words")])}

    def predict(self, x, batch_size=32, **kwargs):
        """Raw texts (a list of str, or examples whose `texts` are used) -> the served
        outputs with offsets as str indices; a `TokenizedWords` (as `evaluate_task`
        makes) -> {"tags": each sentence's predicted tags, a list of lists}."""
        if isinstance(x, TokenizedWords):
            return self.predict_words(x.examples.words, batch_size)
        texts = list(x.texts) if hasattr(x, "texts") else [str(t) for t in x]
        return with_char_offsets(self.predict_texts(texts, batch_size=batch_size), texts)

    def predict_words(self, sentences, batch_size=32):
        """Each sentence's predicted tags (lists of strings), and the joint model's
        intent outputs (numpy), for sentences given as lists of words."""
        run = compiled(self, "word_outputs")
        window = batch_size * PREDICT_WINDOW_BATCHES
        tags, extras = [], {}
        for start in range(0, len(sentences), window):
            words = tf.ragged.constant([list(s) for s in sentences[start:start + window]],
                                       dtype=tf.string, ragged_rank=1, inner_shape=())
            outputs = run(words, chunk_size=batch_size)
            tags += [[tag.decode("utf-8") for tag in row] for row in outputs.pop("tags").to_list()]
            for name, value in outputs.items():
                extras.setdefault(name, []).append(as_numpy(value))
        return {"tags": tags, **{name: np.concatenate(parts) for name, parts in extras.items()}}

    def plain_config(self):
        return {**super().plain_config(), "tag_names": self.tag_names, "scheme": self.scheme,
                "crf": self.use_crf, "constrain": self.constrain,
                "crf_learning_rate_multiplier": self.crf_learning_rate_multiplier,
                "invalid_sequences": self.invalid_sequences, "dropout": self.dropout,
                "intent_names": self.intent_names}


def _read_spans(examples, i, scheme, skip_invalid=False):
    """The entity spans of sentence i in `scheme`; a sequence the scheme forbids names
    its file and line (an error, or with skip_invalid a printed note and None)."""
    try:
        return spans_from_tags(examples.tags[i], scheme)
    except TagSequenceError as error:
        message = f"{examples.location(i, error.index)}: {error}"
        if not skip_invalid:
            raise ValueError(message + " (invalid_sequences = \"skip\" leaves such sentences "
                             "out)") from None
        print(f"  skipped: {message}")
        return None


def _kept_words(words, keep):
    """The words of each row that `keep` keeps: words [B, (W), ...], keep bool [B, (W)]
    -> [B, (kept W), ...]. (tf.ragged.boolean_mask does the same with ~250 ops of shape
    checks in every traced and served graph; these rows are valid by construction.)"""
    kept = tf.where(keep.flat_values)[:, 0]                                # [K] flat word indices
    return tf.RaggedTensor.from_value_rowids(
        tf.gather(words.values, kept), tf.gather(words.value_rowids(), kept),
        nrows=words.nrows(), validate=False)
