"""Reading tagged sentences (NER, slot filling) from CoNLL, tagged-line, seq.in or JSON-lines files.

Every reader returns a `TaggedExamples`: the words of each sentence, one raw tag per
word exactly as the file spells it (checking the tags against a scheme is
`tfbert.data.tag_schemes`' job), an optional sentence label (the intent of ATIS and
SNIPS), and where each sentence came from. As in `tfbert.data.readers`, any problem is
a ValueError naming the file and 1-based line, and no sentence is dropped silently:
a tag for the wrong word would quietly teach a model wrong entities.

Conventions shared by all formats: a UTF-8 byte order mark is removed, CRLF line
endings read like LF, trailing whitespace is ignored, and words and tags are split
on whitespace (one or more spaces).
"""

import dataclasses
import json
import pathlib

from tfbert.data.readers import _lines, _read_text, resolve_format

TAGGED_FORMATS = ("conll", "tagged_lines", "seq_in", "jsonl")
_FORMAT_OF_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".bmes": "tagged_lines",
                     ".bio": "tagged_lines", ".bioes": "tagged_lines", ".iob": "tagged_lines",
                     ".txt": "conll", ".conll": "conll"}
# CoNLL-2003 separates its documents with a line of this word; it is no sentence.
_DOCUMENT_START = "-DOCSTART-"
# The columns each file format can choose, and what it uses when none is given.
_COLUMNS = {"conll": {"tag_column": -1},
            "tagged_lines": {},
            "seq_in": {"text_column": "seq.in", "tag_column": "seq.out", "label_column": None},
            "jsonl": {"text_column": "tokens", "tag_column": "tags", "label_column": None}}


@dataclasses.dataclass
class TaggedExamples:
    """Tagged sentences as read from one file (or seq.in folder).

    words: the words of each sentence (characters, for char-tagged Chinese).
    tags: one raw tag per word; None when read without tags (e.g. for prediction).
    labels: one label per sentence (an intent) when read with them, else None.
    source: the file or folder read, for messages.
    line_numbers: 1-based line where each sentence starts.
    one_word_per_line: True for CoNLL files, where word k is on line_numbers[i] + k.
    """

    words: list[list[str]]
    tags: list[list[str]] | None
    labels: list[str] | None
    source: str
    line_numbers: list[int]
    one_word_per_line: bool = False

    def __post_init__(self):
        # Everything downstream indexes these lists in parallel, and pairs word k with
        # tag k: a mismatch would silently shift labels, so catch it where it is made.
        count = len(self.words)
        for name in ("tags", "labels", "line_numbers"):
            value = getattr(self, name)
            if value is not None and len(value) != count:
                raise ValueError(f"TaggedExamples of {self.source}: {name} has {len(value)} "
                                 f"entries but words has {count}.")
        for i, words in enumerate(self.words):
            tags = None if self.tags is None else self.tags[i]
            problem = _sentence_problem(words, tags)
            if problem is not None:
                k, message = problem
                raise ValueError(f"{self.location(i, k)}: {message}.")
            if self.labels is not None and not self.labels[i].strip():
                raise ValueError(f"{self.location(i)}: empty sentence label.")

    def __len__(self):
        return len(self.words)

    @property
    def texts(self):
        """Each sentence as one string, words joined by a space (what reports show)."""
        return [" ".join(words) for words in self.words]

    @property
    def text_pairs(self):
        """Always None: a tagged sentence has no second text (as `TextExamples` may)."""
        return None

    def select(self, indices):
        """The sentences at `indices`, in that order (a subset keeps its file lines)."""
        indices = [int(i) for i in indices]
        pick = lambda values: None if values is None else [values[i] for i in indices]
        return dataclasses.replace(self, words=pick(self.words), tags=pick(self.tags),
                                   labels=pick(self.labels), line_numbers=pick(self.line_numbers))

    @classmethod
    def given(cls, words, tags=None, labels=None):
        """Sentences passed in Python (not read from a file): messages name their position."""
        words = _sentence_lists(words, "words")
        tags = None if tags is None else _sentence_lists(tags, "tags")
        return cls(words=words, tags=tags, labels=None if labels is None else list(labels),
                   source="examples given", line_numbers=list(range(1, len(words) + 1)))

    def location(self, i, k=None):
        """Where sentence i (and its word k, 0-based) is, as "FILE, line N[, word k+1]"."""
        line = self.line_numbers[i]
        if k is None:
            return f"{self.source}, line {line}"
        if self.one_word_per_line:
            return f"{self.source}, line {line + k}"
        return f"{self.source}, line {line}, word {k + 1}"


def _sentence_lists(sentences, what):
    """Lists of strings from Python values; a plain string is refused, not split into letters."""
    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise ValueError(f"examples given: {what} must hold one list of strings per sentence, "
                         f"not strings; split each sentence into its {what} first.")
    return [list(sentence) for sentence in sentences]


def _sentence_problem(words, tags):
    """What is wrong with one sentence as (word index or None, message), or None."""
    if not words:
        return None, "a sentence without words"
    if tags is not None and len(tags) != len(words):
        return None, f"{len(tags)} tags for {len(words)} words (one tag per word)"
    for k, word in enumerate(words):
        if not word.strip():
            return k, "empty word"
    for k, tag in enumerate(tags or ()):
        if not tag.strip():
            return k, "empty tag"
    return None


def read_tagged(path, *, format=None, tag_column=None, text_column=None, label_column=None,
                tags=True, encoding="utf-8"):
    """Reads tagged sentences from a file, or from a seq.in folder.

    Args:
      path: the file, or for "seq_in" the folder holding seq.in and seq.out.
      format: "conll" (a word per line, columns split on whitespace), "tagged_lines"
        (a sentence per line: words, a tab, tags), "seq_in" (a folder of parallel
        files) or "jsonl" (a JSON object per line). None picks it from the path: a
        folder is seq_in; .jsonl/.json, .bmes/.bio/.bioes/.iob and .txt/.conll files.
      tag_column: conll: the tag's 0-based column, an int or a string such as "3" or
        "-1" (default -1, the last). seq_in: the tag file (default "seq.out").
        jsonl: the key of the tag list (default "tags").
      text_column: seq_in: the text file (default "seq.in"); jsonl: the key of the
        word list (default "tokens").
      label_column: seq_in: the sentence-label file (e.g. "label"); jsonl: its key.
        None reads no sentence labels.
      tags: False reads words only (for prediction): no tag column or file is needed.
      encoding: text encoding of the file(s).

    Returns a `TaggedExamples`.
    Raises FileNotFoundError for a missing path, ValueError for anything wrong in it.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory.")
    format = resolve_format(path, format, TAGGED_FORMATS, _FORMAT_OF_SUFFIX, kind="tagged ")
    if format != "seq_in" and path.is_dir():
        raise ValueError(f"{path} is a folder; the {format} format reads a file.")
    given = {"tag_column": tag_column, "text_column": text_column, "label_column": label_column}
    columns = _COLUMNS[format]
    for name, value in given.items():
        if value is not None and name not in columns:
            usable = ", ".join(columns) or "no columns"
            raise ValueError(f"{path}: {name} cannot be used with the {format} format, which "
                             f"takes {usable}.")
    chosen = {name: columns[name] if given[name] is None else given[name] for name in columns}
    if format == "conll":
        return _read_conll(path, _conll_tag_index(path, chosen["tag_column"]), tags, encoding)
    if format == "tagged_lines":
        return _read_tagged_lines(path, tags, encoding)
    if not tags:
        chosen["tag_column"] = None
    read = _read_seq_in if format == "seq_in" else _read_jsonl
    return read(path, chosen["text_column"], chosen["tag_column"], chosen["label_column"],
                encoding)


def _conll_tag_index(path, tag_column):
    """The tag's column index from an int or a numeric string (recipes give "3")."""
    column = tag_column.strip() if isinstance(tag_column, str) else tag_column
    if isinstance(column, str) and column.lstrip("-").isdigit():
        column = int(column)
    if isinstance(column, bool) or not isinstance(column, int) or column == 0:
        raise ValueError(f"{path}: tag_column must be the tag's 0-based column index, such as "
                         f"3 or -1 (the last); column 0 is the word. Got {tag_column!r}.")
    return column


def _read_conll(path, tag_index, tags, encoding):
    """A word per line; blank and -DOCSTART- lines end a sentence."""
    sentences, current = [], []  # each sentence is a list of (line number, fields)
    width = None  # (line number, column count) of the first word line
    for number, line in _lines(_read_text(path, encoding)):
        fields = line.split()
        if not fields or fields[0] == _DOCUMENT_START:
            if current:
                sentences.append(current)
            current = []
            continue
        if line[0].isspace():
            raise ValueError(f"{path}, line {number}: the line starts with whitespace, so its "
                             f"word (column 0) is empty.")
        if width is None:
            width = (number, len(fields))
        elif len(fields) != width[1]:
            # A table has the same columns on every row. A file of raw sentences read
            # as CoNLL would otherwise turn each sentence into its first word.
            raise ValueError(
                f"{path}, line {number}: {len(fields)} column(s), but line {width[0]} has "
                f"{width[1]}; a CoNLL file has the same columns on every line. A file with "
                f"a sentence per line is read with data.format = \"tagged_lines\".")
        current.append((number, fields))
    if current:
        sentences.append(current)
    if not sentences:
        raise ValueError(f"{path} holds no sentence (it is empty, or only blank and "
                         f"{_DOCUMENT_START} lines).")
    tag_lists = None
    if tags:
        need = tag_index + 1 if tag_index > 0 else 1 - tag_index
        for number, fields in (row for sentence in sentences for row in sentence):
            if len(fields) < need:
                raise ValueError(f"{path}, line {number}: {len(fields)} column(s), but the tag "
                                 f"in column {tag_index} needs at least {need} (the word first).")
        tag_lists = [[fields[tag_index] for _, fields in sentence] for sentence in sentences]
    return TaggedExamples(words=[[fields[0] for _, fields in sentence] for sentence in sentences],
                          tags=tag_lists, labels=None, source=str(path),
                          line_numbers=[sentence[0][0] for sentence in sentences],
                          one_word_per_line=True)


def _read_tagged_lines(path, tags, encoding):
    """A sentence per line: `w1 w2 w3<TAB>T1 T2 T3`; blank lines are skipped."""
    words, tag_lists, line_numbers = [], [], []
    for number, line in _lines(_read_text(path, encoding)):
        line = line.rstrip()
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) > 2:
            raise ValueError(f"{path}, line {number}: {len(parts) - 1} tabs; a line holds the "
                             f"words, one tab, then the tags.")
        if tags and len(parts) == 1:
            raise ValueError(f"{path}, line {number}: no tab; a line holds the words, one tab, "
                             f"then the tags (read with tags=False for words only).")
        words.append(parts[0].split())
        if tags:
            tag_lists.append(parts[1].split())
        line_numbers.append(number)
    if not words:
        raise ValueError(f"{path} holds no sentence (it is empty or blank).")
    return TaggedExamples(words=words, tags=tag_lists if tags else None, labels=None,
                          source=str(path), line_numbers=line_numbers)


def _read_seq_in(folder, text_file, tag_file, label_file, encoding):
    """An ATIS/SNIPS folder: line i of seq.in, seq.out (and label) is sentence i."""
    roles = {"text": text_file, "tag": tag_file, "label": label_file}
    files = {role: folder / str(name) for role, name in roles.items() if name is not None}
    for role, file in files.items():
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file (the {role} file of the seq_in "
                                    f"folder {folder}).")
    lines = {role: _seq_in_lines(file, encoding) for role, file in files.items()}
    for role in lines:
        if len(lines[role]) != len(lines["text"]):
            raise ValueError(f"{files['text']} has {len(lines['text'])} lines but {files[role]} "
                             f"has {len(lines[role])}; line i of one belongs to line i of the "
                             f"other.")
    words = [line.split() for _, line in lines["text"]]
    line_numbers = [number for number, _ in lines["text"]]
    for number, sentence in zip(line_numbers, words):
        if not sentence:
            raise ValueError(f"{files['text']}, line {number}: a sentence without words.")
    tag_lists = None
    if "tag" in lines:
        tag_lists = [line.split() for _, line in lines["tag"]]
        for number, sentence, sentence_tags in zip(line_numbers, words, tag_lists):
            if len(sentence_tags) != len(sentence):
                raise ValueError(f"{files['tag']}, line {number}: {len(sentence_tags)} tags for "
                                 f"the {len(sentence)} words of {files['text']}, line {number}.")
    labels = None
    if "label" in lines:
        labels = [line.strip() for _, line in lines["label"]]
        for number, label in zip(line_numbers, labels):
            if not label:
                raise ValueError(f"{files['label']}, line {number}: empty sentence label.")
    return TaggedExamples(words=words, tags=tag_lists, labels=labels, source=str(folder),
                          line_numbers=line_numbers)


def _seq_in_lines(path, encoding):
    """(line number, line) of one seq.in-layout file; blank lines at the end are ignored."""
    lines = _lines(_read_text(path, encoding))
    while lines and not lines[-1][1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path} is empty.")
    return lines


def _read_jsonl(path, text_key, tag_key, label_key, encoding):
    """A JSON object per line: {"tokens": [...], "tags": [...], "intent": "..."}."""
    keys = {role: key for role, key in (("words", text_key), ("tags", tag_key),
                                        ("label", label_key)) if key is not None}
    values = {role: [] for role in keys}
    line_numbers = []
    for number, line in _lines(_read_text(path, encoding)):
        if not line.strip():
            continue  # blank lines carry no record in JSON lines
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: invalid JSON ({error.msg}, column "
                             f"{error.colno}).") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got "
                             f"{type(record).__name__}.")
        for role, key in keys.items():
            values[role].append(_json_field(f"{path}, line {number}", record, key,
                                            is_label=role == "label"))
        line_numbers.append(number)
    if not line_numbers:
        raise ValueError(f"{path} holds no sentence (it is empty or blank).")
    return TaggedExamples(words=values["words"], tags=values.get("tags"),
                          labels=values.get("label"), source=str(path), line_numbers=line_numbers)


def _json_field(where, record, key, is_label):
    """A label string, or a list of strings (one per word), from a JSON record."""
    if key not in record:
        raise ValueError(f"{where}: no key {key!r}; the record has: "
                         f"{', '.join(repr(k) for k in record)}.")
    value = record[key]
    if is_label:
        if not isinstance(value, str):
            raise ValueError(f"{where}: {key!r} must be a string (the sentence label), got "
                             f"{type(value).__name__} {value!r}.")
        return value.strip()
    if not isinstance(value, list):
        raise ValueError(f"{where}: {key!r} must be a list of strings, one per word; got "
                         f"{type(value).__name__} {value!r}.")
    for k, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{where}: {key!r} must be a list of strings, one per word; item "
                             f"{k + 1} is {type(item).__name__} {item!r}.")
    return [item.strip() for item in value]
