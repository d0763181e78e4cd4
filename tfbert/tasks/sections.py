"""The recipe tables of the built-in task kinds, and how each kind reads its data.

A recipe's `[<task>]` table is one of these dataclasses (its fields are the table's
keys, `check()` says what is wrong with a value); each also knows its kind's name,
the dev metric a run keeps the best epoch by, and how a split is read from a file.
Pure Python: loading a recipe, and reading the inputs that `tfbert predict --server`
sends to TF Serving, import no TensorFlow. The task classes take them from here.
"""

import dataclasses
import math

from tfbert.data.corpus import read_corpus
from tfbert.data.readers import read_examples
from tfbert.data.tag_schemes import SCHEMES
from tfbert.data.tagged_readers import read_tagged

# The pooling heads' names (tfbert.layers.POOLING_HEADS, which imports Keras).
POOLING_HEADS = ("cls", "attention", "mean")
# How a sentence embedder pools its tokens.
POOLINGS = ("mean", "cls")


def check_head(head):
    if head not in (*POOLING_HEADS, "auto"):
        raise ValueError(f"head = {head!r} is not one of: {', '.join(POOLING_HEADS)}, auto.")


def read_text_examples(path, data, labels=True):
    """The texts (pairs) and labels of one split, read with the recipe's [data] columns."""
    return read_examples(path, text_column=data.text_column or None,
                         text_pair_column=data.text_pair_column or None,
                         label_column=(data.label_column or None) if labels else None,
                         format=data.format or None)


LONG_TEXT = ("truncate", "windows")
WINDOW_COMBINE = ("mean", "max", "attention")


@dataclasses.dataclass
class LongTextSection:
    """The keys of [classification] and [regression] on texts longer than max_length."""

    # "truncate": a text is cut at training.max_length pieces. "windows": a longer text is
    # cut into overlapping windows of max_length, each read by the encoder, and the
    # windows' outputs combined (window_combine), in training, evaluation, predict and the
    # export alike (tfbert/data/text_windows.py). Single texts only.
    long_text: str = "truncate"
    # Pieces between the starts of two windows; "auto": half the window.
    window_stride: int = dataclasses.field(default="auto", metadata={"or_strings": ("auto",),
                                                                     "type": int})
    # mean | max of the windows' logits (scores) | attention: a learned weighting of the
    # windows' pooled vectors (tfbert/tasks/pooled_task.py)
    window_combine: str = "mean"
    # A text is read in at most this many windows (its first; the rest is cut): a batch
    # runs at most training.batch_size * max_windows sequences.
    max_windows: int = 8

    def check_long_text(self):
        if self.long_text not in LONG_TEXT:
            raise ValueError(f"long_text = {self.long_text!r} is not one of: {', '.join(LONG_TEXT)}.")
        if self.window_combine not in WINDOW_COMBINE:
            raise ValueError(f"window_combine = {self.window_combine!r} is not one of: "
                             f"{', '.join(WINDOW_COMBINE)}.")
        if self.max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, got {self.max_windows}.")
        if self.window_stride != "auto" and self.window_stride < 1:
            raise ValueError(f"window_stride must be a positive number of pieces or \"auto\", "
                             f"got {self.window_stride}.")

    def long_text_options(self):
        """The task's constructor arguments for long texts."""
        return {"long_text": self.long_text, "window_combine": self.window_combine,
                "max_windows": self.max_windows,
                "window_stride": None if self.window_stride == "auto" else self.window_stride}


@dataclasses.dataclass
class ClassificationSection(LongTextSection):
    """The [classification] table of a recipe."""

    task_name = "classification"
    default_eval_metric = "accuracy"
    reads_text_columns = True  # [data] text columns: `tfbert predict` streams its files

    # auto: the pooling the checkpoint was trained with (mean for all-MiniLM-L6-v2), else cls
    head: str = "auto"  # cls | attention | mean | auto
    multi_label: bool = False  # each label an independent yes/no (sigmoid)
    label_separator: str = "#"  # multi-label: "atis_flight#atis_airfare" names two
    threshold: float = 0.5  # multi-label: probability over which a label is predicted
    # "balanced": each class's loss weighted by n / (classes * its count) (scikit-learn's
    # compute_class_weight), so small classes count as much as large ones; "": none.
    class_weight: str = ""
    # Out-of-scope rejection: when the top probability is under reject_below, the answer
    # is reject_label (in predict, evaluate and the served signature alike). 0: off;
    # "auto": chosen on the dev set after training, the highest threshold that still
    # accepts reject_recall of the dev set's in-scope examples. Dev and test rows whose
    # label is reject_label are the out-of-scope examples the report scores.
    reject_below: float = dataclasses.field(default=0.0, metadata={"or_strings": ("auto",)})
    reject_label: str = "oos"
    reject_recall: float = 0.95  # "auto": the share of in-scope dev examples kept
    # After training, a temperature fitted on the dev set (its log loss) divides the
    # logits before the softmax (one per label for multi-label): probabilities that mean
    # what they say, in predict, evaluate and the export; no answer changes
    # (tfbert/evaluation/calibration.py). Without a dev set nothing is fitted.
    calibrate: bool = True

    def check(self):
        check_head(self.head)
        self.check_long_text()
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")
        if not self.label_separator:
            raise ValueError("label_separator must not be empty.")
        if self.class_weight not in ("", "balanced"):
            raise ValueError(f"class_weight = {self.class_weight!r} is not one of: \"\" (none), balanced.")
        if self.class_weight and self.multi_label:
            raise ValueError("class_weight = \"balanced\" is for single-label classification; "
                             "a multi-label classifier has no single class per example to weigh.")
        if self.reject_below != "auto" and not 0.0 <= self.reject_below < 1.0:
            raise ValueError(f"reject_below must be in [0, 1) or \"auto\", got {self.reject_below}.")
        if self.rejects and self.multi_label:
            raise ValueError("reject_below is for single-label classification; a multi-label "
                             "classifier already answers no label over its threshold as none.")
        if self.rejects and (not self.reject_label.strip() or "\n" in self.reject_label):
            raise ValueError(f"reject_label = {self.reject_label!r} must be a one-line label name.")
        if not 0.0 < self.reject_recall <= 1.0:
            raise ValueError(f"reject_recall must be in (0, 1], got {self.reject_recall}.")

    @property
    def rejects(self):
        return self.reject_below == "auto" or self.reject_below > 0

    def requires_dev(self):
        """Why this section needs data.dev ("" when it does not)."""
        return ('reject_below = "auto" chooses its threshold on the dev set'
                if self.reject_below == "auto" else "")

    def read_examples(self, path, data, labels=True):
        return read_text_examples(path, data, labels)


@dataclasses.dataclass
class RegressionSection(LongTextSection):
    """The [regression] table of a recipe."""

    task_name = "regression"
    default_eval_metric = "spearman"
    reads_text_columns = True  # [data] text columns: `tfbert predict` streams its files

    # auto: the pooling the checkpoint was trained with (mean for all-MiniLM-L6-v2), else cls
    head: str = "auto"  # cls | attention | mean | auto
    min_score: float = -math.inf  # predictions are clipped to [min_score, max_score]
    max_score: float = math.inf

    def check(self):
        check_head(self.head)
        self.check_long_text()
        if not self.min_score < self.max_score:
            raise ValueError(f"min_score ({self.min_score}) must be below max_score "
                             f"({self.max_score}).")

    def read_examples(self, path, data, labels=True):
        return read_text_examples(path, data, labels)


@dataclasses.dataclass
class TokenClassificationSection:
    """The [token_classification] table of a recipe."""

    task_name = "token_classification"
    default_eval_metric = "f1"

    scheme: str = "iob2"  # how the data's tags are read: iob1 | iob2 | bioes | bmes
    crf: bool = True  # a CRF over the tag scores (else a softmax per word)
    constrain: bool = True  # CRF: forbid transitions the scheme does not allow
    # The CRF's weights learn this many times faster than the encoder (see layers/crf.py):
    # at BERT's learning rate alone its transitions barely move.
    crf_learning_rate_multiplier: float = 100.0
    # A sentence whose tags the scheme forbids: "error" names its file and line; "skip"
    # leaves it out of training (counted and named; Resume's train splits 2 sentences
    # across lines, mid-entity).
    invalid_sequences: str = "error"
    words_column: str = ""  # seq_in: the words file (seq.in); jsonl: the key (tokens)
    tags_column: str = ""  # conll: the column index (-1); seq_in: the file (seq.out); jsonl: key

    def check(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme = {self.scheme!r} is not one of: {', '.join(SCHEMES)}.")
        if self.invalid_sequences not in ("error", "skip"):
            raise ValueError(f"invalid_sequences = {self.invalid_sequences!r} is not one of: "
                             "error, skip.")
        if not self.crf_learning_rate_multiplier > 0:
            raise ValueError("crf_learning_rate_multiplier must be positive, got "
                             f"{self.crf_learning_rate_multiplier}.")

    def read_examples(self, path, data, labels=True):
        """The tagged sentences of one split, read with this table's columns."""
        if data.text_column != "text" or data.label_column != "label" or data.text_pair_column:
            raise ValueError(f"[data] text_column / label_column / text_pair_column are for text "
                             f"tasks; token tagging reads [{self.task_name}] words_column, "
                             "tags_column (and intent_column).")
        return read_tagged(path, format=data.format or None, tags=labels,
                           text_column=self.words_column or None,
                           tag_column=self.tags_column or None,
                           label_column=self.label_column() if labels else None)

    def label_column(self):
        """Where a sentence's own label is read from: none for plain tagging."""
        return None


@dataclasses.dataclass
class IntentAndSlotsSection(TokenClassificationSection):
    """The [intent_and_slots] table of a recipe."""

    task_name = "intent_and_slots"
    default_eval_metric = "sentence_accuracy"

    intent_column: str = "label"  # seq_in: the intent file; jsonl: the key

    def label_column(self):
        return self.intent_column or None


@dataclasses.dataclass
class PretrainingSection:
    """The [pretraining] table of a recipe."""

    task_name = "pretraining"
    default_eval_metric = "masked_lm_accuracy"

    next_sentence: bool = False  # add next-sentence prediction (BERT's second objective)
    mask_rate: float = 0.15  # share of each sequence's tokens the model must restore
    whole_word_masking: bool = False  # select all pieces of a word together
    documents: str = ""  # .txt corpora: "lines", "blank_lines"; empty: tell from the file
    text_key: str = "text"  # .jsonl corpora: the key of each document's text
    extend_vocabulary: bool = False  # add the corpus's [UNK] words (tfbert.text.vocabulary)
    min_count: int = 2  # ... seen at least this many times
    # More text whose [UNK] words are added too, without being trained on (a task's
    # training texts, say); files separated by ",".
    vocabulary_files: str = ""
    # The added tokens' embedding rows step at this multiple of the learning rate (the
    # other rows and weights at the rate itself): they all start from the mean embedding.
    new_token_learning_rate_multiplier: float = 1.0

    def check(self):
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1), got {self.mask_rate}.")
        if self.documents not in ("", "lines", "blank_lines"):
            raise ValueError(f"documents = {self.documents!r} is not one of: lines, blank_lines "
                             "(or empty: told from the file).")
        if self.min_count < 1:
            raise ValueError(f"min_count must be 1 or more, got {self.min_count}.")
        if not self.new_token_learning_rate_multiplier > 0:
            raise ValueError("new_token_learning_rate_multiplier must be > 0, got "
                             f"{self.new_token_learning_rate_multiplier}.")

    def read_examples(self, path, data, labels=True):
        """The corpus: one or several files, separated by ","."""
        paths = [part.strip() for part in str(path).split(",") if part.strip()]
        return read_corpus(paths, documents=self.documents or None, text_key=self.text_key)


@dataclasses.dataclass
class EmbeddingSection:
    """The [embedding] table: how vectors are made (the model is exported, not trained)."""

    task_name = "embedding"
    default_eval_metric = "accuracy"
    reads_text_columns = True  # [data] text columns: `tfbert predict` streams its files

    pooling: str = "mean"  # mean | cls
    normalize: bool = True

    def check(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling = {self.pooling!r} is not one of: {', '.join(POOLINGS)}.")

    def read_examples(self, path, data, labels=True):
        return read_text_examples(path, data, labels)
