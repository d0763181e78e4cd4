"""Reading inputs of any size in windows of examples, for batch prediction.

    for window in stream_examples(paths, columns, ...):   # TextExamples of <= size rows
        ...                                                 # each knows its file and lines

TSV, CSV and JSON-lines files are read line by line: memory holds one window, whatever
the size of the file. A file is named by a local path, a glob, or a `tf.io.gfile` path
(gs://, hdfs://, s3:// where the TensorFlow build has them; TensorFlow is imported only
for those). Rows are parsed by the same functions as `read_examples` (readers.py), so a
bad row gets the same message naming its file and line; with `on_error="skip"` it is
set aside (`Rejected`) instead, and reading goes on.

Folders (seq.in) and formats that are not one row per line are read whole by the
caller (`windows_of`), which then cuts them into windows: memory grows with them.
"""

import csv
import dataclasses
import glob
import os

from tfbert.data.readers import (_DEFAULT_DELIMITER, _DEFAULT_QUOTING, TextExamples,
                                 _column_index, _is_blank, jsonl_values, resolve_format,
                                 row_values)

STREAMED_FORMATS = ("tsv", "csv", "jsonl")


@dataclasses.dataclass
class Rejected:
    """A row left out under on_error="skip": where it is and why."""

    source: str
    line: int
    reason: str


def is_remote(path):
    return "://" in str(path)


def expand_inputs(patterns):
    """Paths of the files that `patterns` (paths or globs, local or tf.io.gfile) name,
    each pattern's matches sorted; a pattern that matches nothing is an error."""
    paths = []
    for pattern in patterns:
        pattern = str(pattern)
        if is_remote(pattern):
            import tensorflow as tf

            try:
                found = sorted(tf.io.gfile.glob(pattern))
            except tf.errors.OpError as error:  # no such bucket, no credentials, no scheme
                raise FileNotFoundError(f"{pattern}: cannot be read ({error.message}).") from None
        elif glob.has_magic(pattern):
            found = sorted(glob.glob(pattern))
        else:
            found = [pattern] if os.path.exists(pattern) else []
        if not found:
            raise FileNotFoundError(f"{pattern}: no such file (nor files matching it).")
        paths += found
    return paths


def open_binary(path):
    """A byte stream of `path`, local or tf.io.gfile."""
    if is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def file_identity(path):
    """(size, modification time) of a file: what a resumed run checks is unchanged."""
    if is_remote(path):
        import tensorflow as tf

        stat = tf.io.gfile.stat(path)
        return [stat.length, stat.mtime_nsec]
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def count_lines(path):
    """The number of lines of a file (for a progress bar's total), read in blocks."""
    if is_remote(path):
        import tensorflow as tf

        stream = tf.io.gfile.GFile(path, "rb")
    else:
        stream = open(path, "rb")
    with stream:
        count, last = 0, b"\n"
        while block := stream.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
        return count + (last != b"\n")


def can_stream(path, format):
    """True when `path` is a file in a format read line by line."""
    return not os.path.isdir(path) and (format or _format_of(path)) in STREAMED_FORMATS


def _format_of(path):
    try:
        return resolve_format(_PathName(path), None)
    except ValueError:
        return None


class _PathName(str):
    """A path's name for resolve_format (which asks whether it is a folder), local or not."""

    suffix = property(lambda self: os.path.splitext(self)[1])

    def is_dir(self):
        return False if is_remote(self) else os.path.isdir(self)


class _BadLine(ValueError):
    """A line that is not text in the file's encoding (a bad row, not a bad file)."""


def _lines(stream, path, encoding):
    """(line number, the line decoded, with its line end) of a byte stream; a line that
    does not decode is a `_BadLine` in its place, naming the file and line."""
    for number, raw in enumerate(iter(stream.readline, b""), start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        try:
            yield number, raw.decode(encoding)
        except UnicodeDecodeError as error:
            yield number, _BadLine(f"{path}, line {number}: not valid {encoding} text "
                                   f"({error.reason} at byte {error.start}).")


def _records(stream, path, format, delimiter, quoting, encoding):
    """(line number, fields or a JSON line, or a `_BadLine`) of each row, as they come."""
    lines = _lines(stream, path, encoding)
    if format == "jsonl" or quoting == "none":
        for number, line in lines:
            if not isinstance(line, _BadLine):
                line = line.rstrip("\n").removesuffix("\r")
                if format != "jsonl":
                    line = line.split(delimiter)
            yield number, line
        return
    # Quoted CSV: a record may span lines, so a line that does not decode, or broken
    # quoting, leaves the rest of the file unreadable: an error even under "skip".
    def decoded():
        for number, line in lines:
            if isinstance(line, _BadLine):
                raise line
            yield line

    reader = csv.reader(decoded(), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ValueError(f"{path}, line {start}: malformed quoting ({error}); if quotes "
                             f"in this file are plain characters, read it with quoting='none'.") from None
        yield start, fields


def stream_examples(path, columns, format=None, size=4096, on_error="error", after_line=0,
                    encoding="utf-8", open_binary=open_binary):
    """Yields (TextExamples of at most `size` rows, [Rejected], last line read) for the
    rows of one TSV, CSV or JSON-lines file, in file order, skipping rows that start at
    or before `after_line` (a resumed run). `columns` maps "text" (and "text_pair") to
    a header name or index (TSV/CSV) or key (JSONL); `open_binary(path)` opens it (a
    Beam pipeline passes Beam's file systems). As `read_examples` reads them:
    blank lines at the end of a table and in JSON lines are left out; a blank line
    between rows of a table is a bad row."""
    if on_error not in ("error", "skip"):
        raise ValueError(f"on_error must be error or skip; got {on_error!r}.")
    format = format or _format_of(path)
    if format not in STREAMED_FORMATS:
        raise ValueError(f"{path}: only {', '.join(STREAMED_FORMATS)} files are read as a stream.")
    delimiter, quoting = _DEFAULT_DELIMITER.get(format), _DEFAULT_QUOTING.get(format)
    header = indices = width_origin = None
    values, numbers, rejected, last = {role: [] for role in columns}, [], [], after_line
    blanks = []  # blank lines not yet followed by a row

    def window():
        examples = TextExamples(texts=values["text"], text_pairs=values.get("text_pair"),
                                labels=None, source=str(path), line_numbers=list(numbers))
        return examples, list(rejected), last

    with open_binary(path) as stream:
        for number, record in _records(stream, path, format, delimiter, quoting, encoding):
            if isinstance(record, _BadLine) and (header is None and format != "jsonl"
                                                 or on_error == "error"):
                raise record
            if format != "jsonl" and header is None:
                header = [name.strip() for name in record]
                width_origin = f"the header (line {number})"
                indices = {role: _column_index(path, column, header, len(header), width_origin)
                           for role, column in columns.items()}
                continue
            if number <= after_line:
                continue
            last = number
            if isinstance(record, _BadLine):
                rejected.append(Rejected(str(path), number, str(record)))
                continue
            if format == "jsonl" and record.strip() == "":
                continue  # blank lines carry no record in JSON lines
            if format != "jsonl" and _is_blank(record):
                blanks.append(number)  # an error if a row follows (as read_examples says)
                continue
            try:
                for blank in blanks:
                    problem = (f"{path}, line {blank}: blank line between rows (only blank "
                               "lines at the end of the file are ignored).")
                    if on_error == "error":
                        raise ValueError(problem)
                    rejected.append(Rejected(str(path), blank, problem))
                blanks = []
                row = (jsonl_values(path, number, record, columns) if format == "jsonl" else
                       row_values(path, number, record, indices, len(header), width_origin,
                                  delimiter))
            except ValueError as error:
                if on_error == "error":
                    raise
                rejected.append(Rejected(str(path), number, str(error)))
                continue
            for role, value in row.items():
                values[role].append(value)
            numbers.append(number)
            if len(numbers) >= size:
                yield window()
                values, numbers, rejected = {role: [] for role in columns}, [], []
    if format != "jsonl" and header is None:
        raise ValueError(f"{path} is empty.")
    if numbers or rejected or last > after_line:
        yield window()


def windows_of(examples, size, after_line=0):
    """Examples read whole, cut into windows as `stream_examples` yields them."""
    kept = [i for i, number in enumerate(examples.line_numbers) if number > after_line]
    for start in range(0, len(kept), size):
        part = examples.select(kept[start:start + size])
        yield part, [], part.line_numbers[-1]
