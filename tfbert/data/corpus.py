"""Reading unlabelled text for pretraining: documents made of sentences.

Files:
- `.txt`: when the file has blank lines between its lines of text, documents are
  separated by blank lines (google-research/bert's pretraining format); otherwise every
  line is one document (as `../shared/data/medical_corpus` is). `documents = "lines"` or
  `"blank_lines"` says which instead of guessing.
- `.jsonl`: one document per line, its text under `text_key` ("text").

Every line (or JSON text) is then cut into sentences by one rule, `split_sentences`: a
sentence ends after a run of 。！？；!?; (and the closing quotes or brackets right after
it), or after "." followed by whitespace. Decimal points ("3.5") do not end one;
abbreviations ("Dr. Smith") do, which costs next-sentence prediction a little and
masked-LM nothing.
"""

import dataclasses
import json
import pathlib
import re

from tfbert.data.readers import _read_text

_CLOSERS = "”’」』）)\"'】》"
_SENTENCE_END = re.compile(rf"(?:[。！？；!?;]+[{_CLOSERS}]*|\.+[{_CLOSERS}]*(?=\s))\s*")
CORPUS_FORMATS = ("txt", "jsonl")


def split_sentences(text):
    """The sentences of `text` by the module's rule, each stripped, none empty."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentence = text[start:match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


@dataclasses.dataclass
class Corpus:
    """documents[d] is a list of sentences; line_numbers[d] is the line document d starts on."""

    documents: list
    line_numbers: list
    source: str

    def __len__(self):
        return len(self.documents)

    @property
    def sentence_count(self):
        return sum(len(document) for document in self.documents)

    def location(self, d):
        return f"{self.source}, line {self.line_numbers[d]}"


def read_corpus(paths, documents=None, text_key="text", encoding="utf-8"):
    """Reads one corpus from one or several files (a path or a list of them).

    documents: for .txt files, "lines" (a document per line) or "blank_lines";
      None tells them apart as the module says.
    An empty corpus, invalid UTF-8, a JSON line that is not an object with a string
    `text_key` are errors naming the file (and line).
    """
    paths = [paths] if isinstance(paths, (str, pathlib.Path)) else list(paths)
    if not paths:
        raise ValueError("no corpus files given.")
    if documents not in (None, "lines", "blank_lines"):
        raise ValueError(f"documents = {documents!r} is not one of: lines, blank_lines.")
    all_documents, line_numbers = [], []
    for path in map(pathlib.Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"corpus file not found: {path}")
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in CORPUS_FORMATS:
            raise ValueError(f"{path}: a corpus is a .txt or .jsonl file, not {path.suffix!r}.")
        text = _read_text(path, encoding)
        read = _jsonl_documents if suffix == "jsonl" else _text_documents
        for line, sentences in read(path, text, documents if suffix == "txt" else text_key):
            all_documents.append(sentences)
            line_numbers.append(line)
    source = ", ".join(str(p) for p in paths)
    if not all_documents:
        raise ValueError(f"{source}: the corpus holds no text.")
    return Corpus(all_documents, line_numbers, source)


def _text_documents(path, text, documents):
    lines = text.splitlines()
    if documents is None:
        filled = [i for i, line in enumerate(lines) if line.strip()]
        inner_blank = filled and any(not lines[i].strip() for i in range(filled[0], filled[-1]))
        documents = "blank_lines" if inner_blank else "lines"
    current, start = [], None
    for number, line in enumerate(lines, start=1):
        sentences = split_sentences(line)
        if documents == "lines":
            if sentences:
                yield number, sentences
            continue
        if sentences:
            start = start or number
            current += sentences
        elif current:
            yield start, current
            current, start = [], None
    if current:
        yield start, current


def _jsonl_documents(path, text, text_key):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_key), str):
            raise ValueError(f"{path}, line {number}: expected an object with a string "
                             f"{text_key!r}; got {line[:80]!r}.")
        sentences = split_sentences(record[text_key])
        if sentences:
            yield number, sentences
