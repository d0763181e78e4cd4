"""Reading labelled (or unlabelled) text examples from TSV, CSV, JSON lines or seq.in folders.

Every reader returns a `TextExamples`: the texts, the optional second texts of
pairs, the raw label strings exactly as the file spells them (turning them into
ids is `tfbert.data.labels`' job), and where each example came from. Any problem
in a file is a ValueError naming the file and, where there is one, the 1-based
line, so a bad row in a 67k-line file can be found with an editor. No row is ever
dropped silently.

Conventions shared by all formats:
  - Text and label fields are stripped of leading and trailing whitespace (SST-2
    sentences end with a space, SNIPS lines with two); inner whitespace is kept.
  - A UTF-8 byte order mark is removed (MRPC's header starts with one), and CRLF
    line endings read like LF ones.
  - Empty text is allowed (it is still an input); an empty label is an error.
"""

import csv
import dataclasses
import io
import json
import pathlib

FORMATS = ("tsv", "csv", "jsonl", "seq_in")
_FORMAT_OF_SUFFIX = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
_DEFAULT_DELIMITER = {"tsv": "\t", "csv": ","}
# GLUE TSVs are not quoted, yet hold unbalanced quotes (MRPC dev line 2 opens a
# quote it never closes): a quote-aware reader would glue lines together.
_DEFAULT_QUOTING = {"tsv": "none", "csv": "minimal"}
_QUOTINGS = ("none", "minimal")
# seq.in folders (ATIS, SNIPS): the text file and the intent file inside the folder.
_SEQ_IN_TEXT_FILE = "seq.in"
_SEQ_IN_LABEL_FILE = "label"


@dataclasses.dataclass
class TextExamples:
    """Examples as read from one file (or seq.in folder).

    texts: the first (or only) text of each example.
    text_pairs: the second text of each pair; None for single-text tasks.
    labels: raw label strings as in the file (e.g. "1", "4.750",
      "atis_flight#atis_airfare"); None when the file was read without labels.
    source: the file or folder read, for messages.
    line_numbers: 1-based line in the source file where each example starts.
    """

    texts: list[str]
    text_pairs: list[str] | None
    labels: list[str] | None
    source: str
    line_numbers: list[int]

    def __post_init__(self):
        # Everything downstream indexes these lists in parallel; a length mismatch
        # would pair texts with the wrong labels, so catch it where it is made.
        count = len(self.texts)
        for name in ("text_pairs", "labels", "line_numbers"):
            value = getattr(self, name)
            if value is not None and len(value) != count:
                raise ValueError(
                    f"TextExamples of {self.source}: {name} has {len(value)} entries "
                    f"but texts has {count}."
                )

    def __len__(self):
        return len(self.texts)

    def select(self, indices):
        """The examples at `indices`, in that order (a subset keeps its file lines)."""
        indices = [int(i) for i in indices]
        pick = lambda values: None if values is None else [values[i] for i in indices]
        return dataclasses.replace(self, texts=pick(self.texts), text_pairs=pick(self.text_pairs),
                                   labels=pick(self.labels), line_numbers=pick(self.line_numbers))

    @classmethod
    def given(cls, texts, text_pairs=None, labels=None):
        """Examples passed in Python (not read from a file): messages name their position."""
        return cls(texts=list(texts), text_pairs=None if text_pairs is None else list(text_pairs),
                   labels=None if labels is None else list(labels), source="examples given",
                   line_numbers=list(range(1, len(texts) + 1)))


def read_examples(path, *, text_column=None, text_pair_column=None, label_column=None,
                  format=None, has_header=True, delimiter=None, quoting=None, encoding="utf-8"):
    """Reads examples from a TSV, CSV or JSON-lines file, or a seq.in folder.

    Args:
      path: the file, or for "seq_in" the folder holding seq.in and label.
      text_column: TSV/CSV: a header name or a 0-based index (int or numeric
        string); JSONL: a key. Required for these formats. For "seq_in" it names the
        text file in the folder (default "seq.in").
      text_pair_column: the second text of pairs, like text_column; None for single
        texts. Not available for "seq_in".
      label_column: like text_column; None reads no labels (e.g. for prediction).
        For "seq_in" it names the label file (default: "label" if the folder holds
        one, else no labels).
      format: "tsv", "csv", "jsonl" or "seq_in"; None picks it from the path: .tsv,
        .csv, .jsonl / .json (JSON lines), or a folder holding seq.in.
      has_header: TSV/CSV: the first line names the columns. Without a header,
        columns must be given as indices.
      delimiter: TSV/CSV field separator; default tab for TSV, comma for CSV.
      quoting: TSV/CSV: "minimal" (fields may be double-quoted, as standard CSV) or
        "none" (quotes are ordinary characters). Default: "minimal" for CSV, "none"
        for TSV.
      encoding: text encoding of the file(s).

    Returns a `TextExamples`.
    Raises FileNotFoundError for a missing path, ValueError for anything wrong in it.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory.")
    format = resolve_format(path, format)
    if format == "seq_in":
        if text_pair_column is not None:
            raise ValueError(f"{path}: the seq_in format has single texts; text_pair_column "
                             f"{text_pair_column!r} cannot be read from it.")
        return _read_seq_in(path, text_column, label_column, encoding)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; the {format} format reads a file.")
    if text_column is None:
        raise ValueError(f"{path}: text_column is required for the {format} format "
                         f"(a column name or 0-based index for TSV/CSV, a key for JSONL).")
    columns = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    columns = {role: column for role, column in columns.items() if column is not None}
    if format == "jsonl":
        return _read_jsonl(path, columns, encoding)
    if delimiter is None:
        delimiter = _DEFAULT_DELIMITER[format]
    if quoting is None:
        quoting = _DEFAULT_QUOTING[format]
    if quoting not in _QUOTINGS:
        raise ValueError(f"quoting must be one of {', '.join(_QUOTINGS)}; got {quoting!r}.")
    text = _read_text(path, encoding)
    if quoting == "none":
        records = _split_unquoted(text, delimiter)
    else:
        records = _split_quoted(text, delimiter, path)
    return _examples_from_records(path, records, columns, has_header, delimiter)


def resolve_format(path, format, formats=FORMATS, format_of_suffix=None, kind=""):
    """The format to read `path` in: `format` when given (checked against `formats`),
    else a folder's (seq_in: it must hold seq.in) or the file suffix's.

    The tagged readers pass their own formats and suffixes; `kind` ("tagged ") goes into
    the messages."""
    format_of_suffix = _FORMAT_OF_SUFFIX if format_of_suffix is None else format_of_suffix
    if format is not None:
        if format not in formats:
            raise ValueError(f"{path}: unknown {kind}format {format!r}; valid formats: "
                             f"{', '.join(formats)}.")
        if format == "seq_in" and not path.is_dir():
            raise ValueError(f"{path}: the seq_in format reads a folder holding "
                             f"{_SEQ_IN_TEXT_FILE} (and its label or tag files), not a file.")
        return format
    if path.is_dir():
        if (path / _SEQ_IN_TEXT_FILE).is_file():
            return "seq_in"
        raise ValueError(f"{path} is a folder without a {_SEQ_IN_TEXT_FILE} file; give a "
                         f"data file, or a folder in the seq_in layout.")
    suffix = path.suffix.lower()
    if suffix not in format_of_suffix:
        raise ValueError(
            f"{path}: cannot tell the {kind}format from the suffix {suffix!r}; use a file ending "
            f"in {', '.join(format_of_suffix)} or a seq.in folder, or set format to one of: "
            f"{', '.join(formats)}."
        )
    return format_of_suffix[suffix]


def _read_text(path, encoding):
    """The decoded contents of a file, without a byte order mark."""
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not valid {encoding} text ({error.reason}); "
                         f"set the encoding of the file.") from None
    return text.removeprefix("\ufeff")


def _lines(text):
    """(1-based line number, line) pairs, split on LF only, a trailing CR removed.

    str.splitlines would also split on form feeds, U+2028 and other characters that
    can sit inside a text field, and shift every later line number.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return [(number, line.removesuffix("\r")) for number, line in enumerate(lines, start=1)]


def _split_unquoted(text, delimiter):
    """Records of a file without quoting: one per line, fields split on the delimiter."""
    return [(number, line.split(delimiter)) for number, line in _lines(text)]


def _split_quoted(text, delimiter, path):
    """Records of a standard (double-quoted) CSV; a quoted field may span lines."""
    # newline="" keeps line endings for the csv module, which needs them to tell a
    # line break inside quotes from the end of a record.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return records
        except csv.Error as error:
            raise ValueError(f"{path}, line {start}: malformed quoting ({error}); if quotes "
                             f"in this file are plain characters, read it with quoting='none'.") from None
        records.append((start, fields))


def _is_blank(fields):
    return all(field.strip() == "" for field in fields) and len(fields) <= 1


def _examples_from_records(path, records, columns, has_header, delimiter):
    """TextExamples from (line number, fields) records of a TSV or CSV file."""
    # Trailing blank lines are an editor's leftovers; a blank line between rows is
    # more likely a broken row, so it is an error rather than skipped.
    while records and _is_blank(records[-1][1]):
        records.pop()
    if not records:
        raise ValueError(f"{path} is empty.")
    for number, fields in records:
        if _is_blank(fields):
            raise ValueError(f"{path}, line {number}: blank line between rows (only blank "
                             f"lines at the end of the file are ignored).")

    if has_header:
        header_line, header = records[0]
        header = [name.strip() for name in header]
        rows = records[1:]
        if not rows:
            raise ValueError(f"{path} has a header (line {header_line}) but no rows.")
        width = len(header)
        width_origin = f"the header (line {header_line})"
    else:
        header = None
        rows = records
        width = len(rows[0][1])
        width_origin = f"the first line (line {rows[0][0]})"
    indices = {role: _column_index(path, column, header, width, width_origin)
               for role, column in columns.items()}

    values = {role: [] for role in columns}
    line_numbers = []
    for number, fields in rows:
        for role, value in row_values(path, number, fields, indices, width, width_origin,
                                      delimiter).items():
            values[role].append(value)
        line_numbers.append(number)

    return _examples_from_columns(path, values, line_numbers, columns)


def row_values(path, number, fields, indices, width, width_origin, delimiter):
    """{role: stripped field} of one TSV/CSV row; a row of the wrong width names its line."""
    # Every row must be as wide as the header: a stray delimiter inside a text
    # (or a missing one) shifts the columns and would pair the wrong fields.
    if len(fields) != width:
        fields_name = "tab-separated" if delimiter == "\t" else f"separated by {delimiter!r}"
        raise ValueError(f"{path}, line {number}: expected {width} fields ({fields_name}, "
                         f"as in {width_origin}), found {len(fields)}.")
    return {role: fields[index].strip() for role, index in indices.items()}


def _column_index(path, column, header, width, width_origin):
    """The 0-based index of a column given by header name or index."""
    if isinstance(column, str) and header is not None:
        matches = [i for i, name in enumerate(header) if name == column.strip()]
        if len(matches) > 1:
            raise ValueError(f"{path}: column {column!r} appears {len(matches)} times in the "
                             f"header; give it by 0-based index instead.")
        if matches:
            return matches[0]
    # A name that is not in the header may still be an index written as a string
    # (command-line flags and recipe files give "0", not 0).
    if isinstance(column, str) and column.strip().isdigit():
        column = int(column.strip())
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise ValueError(f"{path}: a column must be a header name or a 0-based index; "
                         f"got {column!r}.")
    if isinstance(column, str):
        if header is None:
            raise ValueError(f"{path}: column {column!r} is a name, but the file is read "
                             f"without a header (has_header=False); give a 0-based index.")
        raise ValueError(f"{path}: no column {column!r}; the header has: "
                         f"{', '.join(repr(name) for name in header)}.")
    if not 0 <= column < width:
        raise ValueError(f"{path}: column index {column} is out of range; {width_origin} has "
                         f"{width} fields (indices 0 to {width - 1}).")
    return column


def _read_jsonl(path, columns, encoding):
    """TextExamples from a file of one JSON object per line."""
    values = {role: [] for role in columns}
    line_numbers = []
    for number, line in _lines(_read_text(path, encoding)):
        if line.strip() == "":
            continue  # blank lines carry no record in JSON lines
        for role, value in jsonl_values(path, number, line, columns).items():
            values[role].append(value)
        line_numbers.append(number)
    if not line_numbers:
        raise ValueError(f"{path} is empty.")
    return _examples_from_columns(path, values, line_numbers, columns)


def jsonl_values(path, number, line, columns):
    """{role: stripped value} of one JSON line, {role: key} in `columns`; anything wrong
    names the file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        hint = ("; the file looks like one JSON array, but one object per line is "
                "expected" if number == 1 and line.lstrip().startswith("[") else "")
        raise ValueError(f"{path}, line {number}: invalid JSON ({error.msg}, column "
                         f"{error.colno}){hint}.") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}, line {number}: expected a JSON object, got "
                         f"{type(record).__name__}.")
    values = {}
    for role, key in columns.items():
        if key not in record:
            raise ValueError(f"{path}, line {number}: no key {key!r}; the record has: "
                             f"{', '.join(repr(k) for k in record)}.")
        value = record[key]
        if role == "label":
            value = _label_text(path, number, key, value)
        elif not isinstance(value, str):
            raise ValueError(f"{path}, line {number}: {key!r} must be a string, got "
                             f"{type(value).__name__} {value!r}.")
        values[role] = value.strip()
    return values


def _label_text(path, number, key, value):
    """A JSON label as the string a TSV would hold: 1 -> "1", 4.75 -> "4.75"."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise ValueError(f"{path}, line {number}: label {key!r} is null.")
    raise ValueError(f"{path}, line {number}: label {key!r} must be a string or a number, got "
                     f"{type(value).__name__} {value!r}; give several labels as one string "
                     f"joined by the label separator (e.g. \"a#b\").")


def _examples_from_columns(path, values, line_numbers, columns):
    """TextExamples from the per-role columns a table or JSONL reader collected."""
    if "label" in values:
        _check_labels(path, values["label"], line_numbers, columns["label"])
    return TextExamples(
        texts=values["text"],
        text_pairs=values.get("text_pair"),
        labels=values.get("label"),
        source=str(path),
        line_numbers=line_numbers,
    )


def _check_labels(path, labels, line_numbers, column):
    for label, number in zip(labels, line_numbers):
        if label == "":
            raise ValueError(f"{path}, line {number}: empty label (column {column!r}).")


def _read_seq_in(folder, text_file, label_file, encoding):
    """TextExamples from an ATIS/SNIPS folder: seq.in (texts) and label (intents), line by line."""
    text_path = folder / (text_file or _SEQ_IN_TEXT_FILE)
    if not text_path.is_file():
        raise FileNotFoundError(f"{text_path}: no such file (the text file of the seq_in folder "
                                f"{folder}).")
    texts, line_numbers = _seq_in_lines(text_path, encoding, "text")
    labels = None
    if label_file is None and (folder / _SEQ_IN_LABEL_FILE).is_file():
        label_file = _SEQ_IN_LABEL_FILE
    if label_file is not None:
        label_path = folder / label_file
        if not label_path.is_file():
            raise FileNotFoundError(f"{label_path}: no such file (the label file of the seq_in "
                                    f"folder {folder}).")
        labels, _ = _seq_in_lines(label_path, encoding, "label")
        if len(labels) != len(texts):
            raise ValueError(f"{text_path} has {len(texts)} lines but {label_path} has "
                             f"{len(labels)}; line i of one must belong to line i of the other.")
    return TextExamples(texts=texts, text_pairs=None, labels=labels, source=str(folder),
                        line_numbers=line_numbers)


def _seq_in_lines(path, encoding, what):
    """Stripped lines of one seq.in-layout file; blank lines only at the end."""
    lines = _lines(_read_text(path, encoding))
    while lines and lines[-1][1].strip() == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{path} is empty.")
    for number, line in lines:
        if line.strip() == "":
            # Files of this layout pair up by line number; a blank line is a missing
            # example that would shift every later pairing.
            raise ValueError(f"{path}, line {number}: blank line (a missing {what}).")
    return [line.strip() for _, line in lines], [number for number, _ in lines]
