"""BERT's WordPiece tokenizer as TensorFlow ops.

`BertTokenizer` turns raw text into BERT inputs inside the TensorFlow graph, so the
same code runs eagerly, in `tf.data.Dataset.map`, in a `tf.function` and in an
exported SavedModel (a served model can take raw strings).

It reproduces Google's original BERT tokenization (`tokenization.py`, ported to
Python by Hugging Face as `BertTokenizerLegacy`) id for id. That reference works on
one Python string at a time, character by character; here each step becomes a
batched op on a `tf.string` tensor, in the reference's order:

  1. decode: invalid UTF-8 becomes U+FFFD instead of failing;
  2. clean: drop NUL, U+FFFD and control/format/private-use/unassigned characters,
     turn every whitespace character into a space;
  3. put spaces around CJK ideographs, so each is a word of its own;
  4. NFC-normalize;
  5. lowercase, then strip accents (NFD, drop nonspacing marks), as configured;
  6. split on spaces and split off every punctuation character as its own word;
  7. WordPiece each word (greedy longest match first), `[UNK]` for words that
     cannot be pieced or are longer than `max_chars_per_word` characters.

Where the reference asks Python's `unicodedata` what category a character has, the
regular expressions below use character classes built from the same `unicodedata`
tables, not RE2's own `\\p{...}` classes. RE2 has no class for unassigned (Cn)
code points, which the reference deletes as "control" characters, and its tables
follow a different Unicode version than Python's; building the classes from
`unicodedata` closes both gaps. What remains version dependent is lowercasing and
normalization (ICU inside TensorFlow, an older Unicode): letters and marks newer than
ICU's tables are replaced by stand-ins before lowercasing (lowercase_skew.py), so that
Greek final sigma next to them comes out as Python's. tests/test_tokenizer_fuzz.py
checks 10,000 generated strings id for id.

A literal "[CLS]" in the text is plain text (split into "[", "cl", "##s", "]"), as in
Google's original: the tokenizer never lets text smuggle in control tokens.
"""

import functools
import itertools
import json
import numbers
import os
import pathlib
import sys
import unicodedata

import tensorflow as tf
import tensorflow_text as tf_text

from tfbert.text.cjk import CJK_IDEOGRAPH_RANGES
from tfbert.text.lowercase_skew import lowercase_stand_ins
from tfbert.models.pretrained import resolve_checkpoint_dir
from tfbert.text.unicode_cache import cached_table

# Words longer than this many bytes are [UNK] for FastWordpiece. The reference's
# limit is in characters (see `max_chars_per_word`), which we apply ourselves; a
# UTF-8 character has at most 4 bytes, so this byte limit never cuts in first.
_MAX_BYTES_PER_CHAR = 4

# A sane upper bound for tokenizer_config.json's model_max_length: Hugging Face
# writes a huge sentinel (1e30) there when a checkpoint sets no limit.
_MAX_SANE_MODEL_MAX_LENGTH = 100_000
_DEFAULT_MAX_LENGTH = 512


def _regex_class(ranges):
    """An RE2 character class matching the given inclusive code point ranges."""
    parts = []
    for first, last in ranges:
        parts.append(f"\\x{{{first:X}}}" if first == last else f"\\x{{{first:X}}}-\\x{{{last:X}}}")
    return "[" + "".join(parts) + "]"


def _ranges(code_points):
    """Sorted code points -> inclusive (first, last) ranges of consecutive ones."""
    ranges = []
    for cp in sorted(code_points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return [tuple(r) for r in ranges]


def _char_kind(cp):
    """What the reference does with code point `cp` (None: nothing special)."""
    char = chr(cp)
    # `_is_whitespace` (tab, newline, CR, category Zs) becomes a space. Zl and Zp
    # (U+2028, U+2029) are not whitespace there, but `str.split()` splits words on
    # them, so they separate words all the same. (The space itself is left out of
    # the class only because replacing it by itself is wasted work.)
    if char == " ":
        return None
    if char in "\t\n\r":
        return "space"
    category = unicodedata.category(char)
    if category in ("Zs", "Zl", "Zp"):
        return "space"
    # `_clean_text` deletes U+FFFD and `_is_control`: category C* (Cc, which has
    # NUL, Cf, Co, Cs, and unassigned Cn).
    if cp == 0xFFFD or category.startswith("C"):
        return "remove"
    # `_is_punctuation`: all non-alphanumeric printable ASCII, plus category P*.
    ascii_symbol = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    if ascii_symbol or category.startswith("P"):
        return "punctuation"
    # `_run_strip_accents` drops nonspacing marks after NFD.
    if category == "Mn":
        return "mark"
    return None


_KINDS = ("space", "remove", "punctuation", "mark")


def _scan_character_classes():
    """RE2 classes for each kind of `_char_kind`, from a scan of every code point (~0.5 s)."""
    ranges = {kind: [] for kind in _KINDS}
    code_points = range(sys.maxunicode + 1)
    for kind, group in itertools.groupby(code_points, key=_char_kind):
        if kind is not None:
            group = list(group)
            ranges[kind].append((group[0], group[-1]))
    return {kind: _regex_class(r) for kind, r in ranges.items()}


@functools.cache
def _character_classes():
    """`_scan_character_classes()`, computed once per Unicode version, TensorFlow version
    and source of this module (`unicode_cache`)."""
    return cached_table(
        "character_classes", _scan_character_classes,
        lambda value: isinstance(value, dict) and sorted(value) == sorted(_KINDS)
        and all(isinstance(c, str) and c.startswith("[") and c.endswith("]") for c in value.values()))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _read_vocabulary_file(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    # Read as the reference does: UTF-8, universal newlines, one token a line.
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f.readlines()]


class BertTokenizer(tf.Module):
    """Raw text -> BERT WordPiece ids, in-graph.

    Args:
      vocabulary: list of tokens (id = position) or path to a `vocab.txt`.
      lowercase: lowercase the text (uncased checkpoints).
      strip_accents: strip accents; None means "same as lowercase", as in BERT.
      max_length: longest packed sequence, special tokens included.
      max_chars_per_word: longer words become the unknown token.
      unk_token, cls_token, sep_token, pad_token: special tokens; each must be in
        the vocabulary.

    `tokenize(texts)` gives WordPiece ids without special tokens; calling the
    tokenizer packs one or two texts per example into BERT's inputs.
    """

    def __init__(
        self,
        vocabulary,
        lowercase=True,
        strip_accents=None,
        max_length=_DEFAULT_MAX_LENGTH,
        max_chars_per_word=100,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, os.PathLike)):
            source = f"vocabulary file {vocabulary}"
            vocabulary = _read_vocabulary_file(vocabulary)
        else:
            source = "vocabulary"
            vocabulary = list(vocabulary)
        ids = {}
        for index, token in enumerate(vocabulary):
            if not isinstance(token, str):
                raise TypeError(f"{source}: entry {index} is {token!r}, not a str.")
            if token in ids:
                raise ValueError(
                    f"{source}: duplicate token {token!r} at line {index + 1} "
                    f"(first at line {ids[token] + 1})."
                )
            ids[token] = index
        specials = dict(unk_token=unk_token, cls_token=cls_token, sep_token=sep_token, pad_token=pad_token)
        missing = [f"{arg}={token!r}" for arg, token in specials.items() if token not in ids]
        if missing:
            raise ValueError(f"{source} lacks the special token(s) {', '.join(missing)}.")
        if not _is_int(max_length) or max_length < 2:
            raise ValueError(
                f"max_length={max_length!r} is too small: a single text needs max_length >= 2 "
                "([CLS] and [SEP]), a pair needs max_length >= 3."
            )
        if not _is_int(max_chars_per_word) or max_chars_per_word < 1:
            raise ValueError(f"max_chars_per_word={max_chars_per_word!r} must be a positive int.")

        # A tuple, not a list: tf.Module would wrap a list attribute for tracking.
        self._vocabulary = tuple(vocabulary)
        self.lowercase = bool(lowercase)
        self.strip_accents = strip_accents
        self.max_length = int(max_length)
        self.max_chars_per_word = int(max_chars_per_word)
        self.unk_token, self.cls_token = unk_token, cls_token
        self.sep_token, self.pad_token = sep_token, pad_token
        self.unk_id, self.cls_id = ids[unk_token], ids[cls_token]
        self.sep_id, self.pad_id = ids[sep_token], ids[pad_token]
        # As in the reference: accents are stripped when lowercasing unless
        # strip_accents=False, and without lowercasing only if strip_accents=True.
        self._strip_accents = strip_accents if strip_accents is not None else self.lowercase
        self._classes = _character_classes()
        # Letters and marks newer than TensorFlow's ICU: see lowercase_skew.py.
        self._lowercase_stand_ins = [
            (_regex_class(_ranges(code_points)), stand_in)
            for code_points, stand_in in (lowercase_stand_ins(vocabulary) if self.lowercase else [])
        ]
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=list(vocabulary),
            suffix_indicator="##",
            max_bytes_per_word=_MAX_BYTES_PER_CHAR * self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=unk_token,
            # Words are already split (step 6); FastWordpiece's own pre-splitting
            # would not match the reference's.
            no_pretokenization=True,
        )

    @classmethod
    def from_pretrained(cls, path_or_name, **overrides):
        """Tokenizer of a checkpoint directory (or short name, e.g. "all-minilm-l6-v2").

        Reads `vocab.txt`, and `tokenizer_config.json` when present (Hugging Face
        checkpoints): do_lower_case, strip_accents, model_max_length and the special
        tokens. A Google BERT directory has no such file: lowercase defaults to True,
        so pass `lowercase=False` for cased checkpoints. Keyword arguments override
        whatever the directory says.
        """
        directory = resolve_checkpoint_dir(path_or_name)
        kwargs = {"vocabulary": directory / "vocab.txt"}
        config_path = directory / "tokenizer_config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text(encoding="utf-8"))
            for key in ("do_basic_tokenize", "tokenize_chinese_chars"):
                if config.get(key, True) is False:
                    raise ValueError(
                        f"{config_path} sets {key}=false; BertTokenizer only implements "
                        "BERT's standard basic tokenization."
                    )
            if config.get("do_lower_case") is not None:
                kwargs["lowercase"] = bool(config["do_lower_case"])
            if "strip_accents" in config:
                kwargs["strip_accents"] = config["strip_accents"]
            model_max_length = config.get("model_max_length")
            if isinstance(model_max_length, int) and 2 <= model_max_length <= _MAX_SANE_MODEL_MAX_LENGTH:
                kwargs["max_length"] = model_max_length
            for key in ("unk_token", "cls_token", "sep_token", "pad_token"):
                token = config.get(key)
                if isinstance(token, dict):  # a serialized AddedToken
                    token = token.get("content")
                if isinstance(token, str):
                    kwargs[key] = token
        kwargs.update(overrides)
        return cls(**kwargs)

    def get_config(self):
        return {
            "vocabulary": list(self._vocabulary),
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "max_length": self.max_length,
            "max_chars_per_word": self.max_chars_per_word,
            "unk_token": self.unk_token,
            "cls_token": self.cls_token,
            "sep_token": self.sep_token,
            "pad_token": self.pad_token,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def vocabulary(self):
        return list(self._vocabulary)

    @property
    def vocabulary_size(self):
        return len(self._vocabulary)

    def tokenize(self, texts):
        """WordPiece ids of each text, without special tokens.

        Args:
          texts: strings, shape [B]: a list, numpy array or tf.string tensor (a
            single string counts as a batch of one).

        Returns:
          int32 RaggedTensor [B, (tokens)].
        """
        return self._tokenize(texts, "texts")

    def _tokenize(self, texts, arg):
        words = self._split_words(self._as_batch(texts, arg))
        # The reference's word length limit is in characters: longer words become
        # the unknown token, which FastWordpiece maps to itself (it is in the
        # vocabulary, and longest-match-first takes the whole word).
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > self.max_chars_per_word
        words = words.with_flat_values(tf.where(too_long, self.unk_token, words.flat_values))
        pieces = self._wordpiece.tokenize(words)  # [B, (words), (pieces)]
        # [B, (pieces)]: row b's pieces start where its first word's do. (merge_dims
        # does the same with shape checks that cost ~110 ops per traced graph.)
        return tf.RaggedTensor.from_row_splits(
            pieces.flat_values, tf.gather(pieces.values.row_splits, pieces.row_splits), validate=False)

    def normalized_words(self, texts):
        """The words WordPiece is given for each text (cleaned, split, lowercased and
        stripped of accents as the tokenizer is set up to): tf.string [B, (words)].
        What a vocabulary must hold for a word to be more than [UNK]."""
        return self._split_words(self._as_batch(texts, "texts"))

    def tokenize_words(self, words):
        """WordPiece ids of each given word, for data that is already split into words
        (a CoNLL token, a character of Chinese text tagged per character).

        Args:
          words: tf.string RaggedTensor [B, (words)].

        Returns:
          int32 RaggedTensor [B, (words), (pieces)]. Each word goes through the whole
          pipeline above on its own, so "1996-08-22" gives the pieces of its five
          words; a word with nothing left after cleaning (a lone control character)
          has no pieces.
        """
        pieces = self._tokenize(words.flat_values, "words")                 # [N, (pieces)]
        return words.with_flat_values(pieces)

    def split_words_with_offsets(self, texts):
        """Raw texts -> the words the tokenizer sees, with where each is in the text.

        Words are split as in steps 2, 3 and 6 (on whitespace, around punctuation
        and CJK ideographs) but on the raw text, so each word keeps its UTF-8 byte
        offsets into its input: `text[begin:end]` (in bytes) is the word as the
        user wrote it. `tokenize_words` of these words gives the pieces that
        `tokenize` gives the whole text, for text whose characters are assigned in
        Python's Unicode version (a word of only removed characters has no pieces).
        Invalid UTF-8 is repaired first (U+FFFD), and offsets then index the
        repaired text.

        Returns:
          (words, begins, ends): RaggedTensors [B, (words)] of tf.string and int64.
        """
        classes = self._classes
        text = tf.strings.unicode_transcode(
            self._as_batch(texts, "texts"), input_encoding="UTF-8", output_encoding="UTF-8",
            errors="replace", replacement_char=0xFFFD)
        # regex_split stops at a NUL byte; \x01 is as removed (a control character)
        # and as long, so words and offsets stay what they would be.
        text = tf.strings.regex_replace(text, "\\x00", "\x01")
        kept = f"{classes['punctuation']}|{_regex_class(CJK_IDEOGRAPH_RANGES)}"
        split = f"[ ]|{classes['space']}|{kept}"
        words, begins, ends = tf_text.regex_split_with_offsets(text, split, keep_delim_regex_pattern=kept)
        return words, begins, ends

    def __call__(self, texts, text_pairs=None):
        """Packs texts (and optional second texts) into BERT's inputs.

        Single texts become `[CLS] a [SEP]`, pairs `[CLS] a [SEP] b [SEP]`, with
        segment ids 0 up to the first [SEP] and 1 after. Sequences longer than
        `max_length` are truncated as Hugging Face's "longest_first" does. Rows are
        padded to the longest row in the batch.

        Returns:
          dict of int32 [B, T] tensors: input_ids (padded with pad_id),
          segment_ids (0-padded), input_mask (1 on tokens, 0 on padding).
        """
        first = self._tokenize(texts, "texts")
        second = None if text_pairs is None else self._tokenize(text_pairs, "text_pairs")
        return self.pack(first, second)

    def packed_lengths(self, first, second=None):
        """int32 [B]: how long each row of `pack(first, second)` is, before padding:
        its pieces, [CLS] and [SEP](s), at most max_length."""
        lengths = first.row_lengths() + 2
        if second is not None:
            lengths += second.row_lengths() + 1
        return tf.cast(tf.minimum(lengths, self.max_length), tf.int32)

    def pack(self, first, second=None):
        """Packs WordPiece ids (as `tokenize` returns them) into BERT's inputs.

        Args:
          first: int32 RaggedTensor [B, (tokens)], the first texts.
          second: optional int32 RaggedTensor [B, (tokens)], the second texts.

        Returns the same dict as calling the tokenizer on the texts.
        """
        first_lengths = first.row_lengths()
        if second is None:
            keep_first = tf.minimum(first_lengths, self.max_length - 2)
            keep_second = None
        else:
            if self.max_length < 3:
                raise ValueError(
                    f"max_length={self.max_length} is too small for text pairs: "
                    "[CLS] a [SEP] b [SEP] needs max_length >= 3."
                )
            self._check_same_batch_size(first, second)
            keep_first, keep_second = _longest_first_lengths(
                first_lengths, second.row_lengths(), self.max_length - 3
            )

        # Row b of the packed batch (k1, k2: the pieces kept of its first and second
        # text), position p:
        #   p == 0                        [CLS]
        #   1 <= p <= k1                  first[b, p - 1]
        #   p == k1 + 1                   [SEP]
        #   k1 + 2 <= p <= k1 + k2 + 1    second[b, p - k1 - 2]     (pairs only)
        #   p == k1 + k2 + 2              [SEP]                     (pairs only)
        #   p >= the row's length         [PAD], mask 0
        # Written with dense ops: concatenating ragged rows checks their shapes with
        # ~230 ops in every traced graph, the served ones included.
        k1 = keep_first[:, None]                                               # [B, 1]
        lengths = keep_first + 2 if second is None else keep_first + keep_second + 3  # [B]
        width = tf.reduce_max(tf.concat([lengths, tf.zeros([1], lengths.dtype)], axis=0))
        p = tf.range(width, dtype=lengths.dtype)[None, :]                      # [1, T]
        in_row = p < lengths[:, None]                                          # [B, T]
        ids = tf.where(p <= k1, _values_at(first, p - 1), self.sep_id)         # [B, T]
        segments = tf.zeros_like(in_row)
        if second is not None:
            segments = p > k1 + 1                                              # the pair's part
            in_second_text = segments & (p <= k1 + keep_second[:, None] + 1)
            ids = tf.where(in_second_text, _values_at(second, p - k1 - 2), ids)  # its [SEP] stays
        ids = tf.where(p == 0, self.cls_id, ids)
        # Keys in sorted order, the order Keras' functional encoder declares its
        # inputs in (TensorFlow sorts dict keys when it flattens them).
        return {
            "input_ids": tf.where(in_row, ids, self.pad_id),
            "input_mask": tf.cast(in_row, tf.int32),
            "segment_ids": tf.cast(segments & in_row, tf.int32),
        }

    def _split_words(self, texts):
        """Steps 1 to 6: [B] strings -> [B, (words)] strings."""
        classes = self._classes
        text = tf.strings.unicode_transcode(
            texts, input_encoding="UTF-8", output_encoding="UTF-8", errors="replace", replacement_char=0xFFFD
        )
        text = tf.strings.regex_replace(text, classes["remove"], "")
        text = tf.strings.regex_replace(text, classes["space"], " ")
        text = tf.strings.regex_replace(text, _regex_class(CJK_IDEOGRAPH_RANGES), r" \0 ")
        # The reference NFC-normalizes here so that composed and decomposed spellings
        # of a character match the same vocabulary entry.
        text = tf_text.normalize_utf8(text, "NFC")
        if self.lowercase:
            # ICU's full lowercasing, like Python's str.lower(): "İ" -> "i̇", final
            # sigma. The reference lowercases word by word, this the whole text: the
            # same, since the final-sigma context never reaches across a space.
            for characters, stand_in in self._lowercase_stand_ins:
                text = tf.strings.regex_replace(text, characters, stand_in)
            text = tf.strings.lower(text, encoding="utf-8")
        if self._strip_accents:
            text = tf_text.normalize_utf8(text, "NFD")
            text = tf.strings.regex_replace(text, classes["mark"], "")
        # Spaces separate words and are dropped; each punctuation character is a word
        # of its own. (A plain whitespace split: tf_text.regex_split gives the same
        # words with ~350 ops of ragged-shape checks in every traced graph, served
        # ones included, where this is 5 ops.)
        text = tf.strings.regex_replace(text, classes["punctuation"], r" \0 ")
        return tf.strings.split(text)

    @staticmethod
    def _as_batch(texts, arg):
        if isinstance(texts, (tf.Tensor, tf.Variable)):
            if texts.dtype != tf.string:
                raise TypeError(f"{arg} must be strings, got a {texts.dtype.name} tensor.")
        else:
            try:
                texts = tf.convert_to_tensor(texts, dtype=tf.string)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{arg} must be a string or a list/array of strings, got {type(texts).__name__}."
                ) from error
        if texts.shape.rank == 0:
            texts = tf.reshape(texts, [1])
        elif texts.shape.rank != 1:
            raise ValueError(f"{arg} must be a batch of strings, shape [B]; got shape {texts.shape}.")
        return texts

    @staticmethod
    def _check_same_batch_size(first, second):
        first_size = tf.get_static_value(first.nrows())
        second_size = tf.get_static_value(second.nrows())
        if first_size is not None and second_size is not None:
            if first_size != second_size:
                raise ValueError(
                    f"texts and text_pairs differ in batch size: {first_size} vs {second_size}."
                )
        else:  # known only when the graph runs
            tf.debugging.assert_equal(
                first.nrows(), second.nrows(), message="texts and text_pairs differ in batch size"
            )


def _longest_first_lengths(first_lengths, second_lengths, budget):
    """How many tokens of each text to keep under Hugging Face's "longest_first".

    The reference removes one token at a time from the longer text (from the second
    on ties) until both fit in `budget`. In closed form: the second text keeps at
    least half the budget (rounded down) if it has that many tokens, and more if the
    first text leaves room; the first text gets the rest.
    """
    budget = tf.cast(budget, first_lengths.dtype)
    keep_second = tf.minimum(second_lengths, tf.maximum(budget // 2, budget - first_lengths))
    keep_first = tf.minimum(first_lengths, budget - keep_second)
    return keep_first, keep_second


def _values_at(ragged, index):
    """int32 [B, T]: ragged[b, index[b, t]] where that exists, else 0 (the caller
    masks those places). ragged: int32 [B, (n)]; index: int64 [B, T]."""
    exists = (index >= 0) & (index < ragged.row_lengths()[:, None])
    flat_index = tf.where(exists, ragged.row_starts()[:, None] + index, 0)
    values = tf.concat([ragged.flat_values, tf.zeros([1], ragged.dtype)], axis=0)  # never empty
    return tf.where(exists, tf.gather(values, flat_index), 0)
