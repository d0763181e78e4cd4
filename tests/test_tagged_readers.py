import json
import re

import pytest

from conftest import benchmark_data
from tfbert.data.tagged_readers import TAGGED_FORMATS, TaggedExamples, read_tagged


def write(folder, name, text, encoding="utf-8"):
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def raises(error, *fragments):
    """pytest.raises matching every fragment, in order, anywhere in the message."""
    return pytest.raises(error, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


# CoNLL: a word per line ---------------------------------------------------------------

CONLL = ("-DOCSTART- -X- -X- O\n"
         "\n"
         "EU NNP B-NP B-ORG\n"
         "rejects VBZ B-VP O\n"
         "\n"
         "\n"
         "\n"
         "Peter NNP B-NP B-PER\n"
         "Blackburn NNP I-NP I-PER\n"
         "-DOCSTART- -X- -X- O\n"
         "Rome NNP B-NP B-LOC")  # no final newline


def test_conll(tmp_path):
    examples = read_tagged(write(tmp_path, "train.txt", CONLL))
    assert examples.words == [["EU", "rejects"], ["Peter", "Blackburn"], ["Rome"]]
    assert examples.tags == [["B-ORG", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    assert examples.labels is None and examples.text_pairs is None
    assert examples.line_numbers == [3, 8, 11]
    assert examples.texts == ["EU rejects", "Peter Blackburn", "Rome"]
    assert examples.one_word_per_line
    path = tmp_path / "train.txt"
    assert examples.location(1) == f"{path}, line 8"
    assert examples.location(1, 1) == f"{path}, line 9"  # the word's own line


def test_conll_crlf_bom_and_trailing_spaces_read_like_plain_lines(tmp_path):
    messy = "\ufeff" + CONLL.replace("\n", "  \r\n") + " \t\r\n\r\n"
    examples = read_tagged(write(tmp_path, "messy.conll", messy))
    plain = read_tagged(write(tmp_path, "plain.txt", CONLL))
    assert (examples.words, examples.tags, examples.line_numbers) == (
        plain.words, plain.tags, plain.line_numbers)


@pytest.mark.parametrize("column,tags", [(1, ["NNP", "VBZ"]), ("2", ["B-NP", "B-VP"]),
                                         ("-1", ["B-ORG", "O"]), (-3, ["NNP", "VBZ"])])
def test_conll_tag_column(tmp_path, column, tags):
    examples = read_tagged(write(tmp_path, "a.txt", CONLL), tag_column=column)
    assert examples.tags[0] == tags


def test_conll_without_tags_needs_only_the_word(tmp_path):
    examples = read_tagged(write(tmp_path, "a.txt", "EU\nrejects\n\nPeter\n"), tags=False)
    assert examples.words == [["EU", "rejects"], ["Peter"]] and examples.tags is None


def test_conll_line_with_too_few_columns(tmp_path):
    path = write(tmp_path, "a.txt", "EU B-ORG\nrejects\n")
    with raises(ValueError, f"{path}, line 2", "1 column(s), but line 1 has 2"):
        read_tagged(path)
    path = write(tmp_path, "b.txt", "EU B-ORG\nrejects O\n")
    with raises(ValueError, f"{path}, line 1", "2 column(s)", "column 3", "at least 4"):
        read_tagged(path, tag_column=3)


def test_raw_sentences_are_not_read_as_conll(tmp_path):
    """A file of sentences given where a CoNLL file is expected (`tfbert predict` on a
    .txt) is an error naming the line, not a sentence of first words; read as
    tagged_lines it is one sentence per line."""
    path = write(tmp_path, "raw.txt", "John lives in Paris .\nMary works at Google\n")
    with raises(ValueError, f"{path}, line 2", "4 column(s), but line 1 has 5", "tagged_lines"):
        read_tagged(path, tags=False)
    examples = read_tagged(path, tags=False, format="tagged_lines")
    assert examples.words == [["John", "lives", "in", "Paris", "."], ["Mary", "works", "at", "Google"]]


@pytest.mark.parametrize("column", [0, "0", "ner", 1.5, True])
def test_conll_bad_tag_column(tmp_path, column):
    with raises(ValueError, "tag_column", "0-based column index", repr(column)):
        read_tagged(write(tmp_path, "a.txt", CONLL), tag_column=column)


def test_conll_line_starting_with_whitespace_has_an_empty_word(tmp_path):
    path = write(tmp_path, "a.txt", "EU B-ORG\n\tO\n")
    with raises(ValueError, f"{path}, line 2", "word (column 0) is empty"):
        read_tagged(path)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_conll_without_sentences(tmp_path, text):
    path = write(tmp_path, "a.txt", text)
    with raises(ValueError, f"{path} holds no sentence"):
        read_tagged(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"EU B-ORG\n\nM\xfcnchen B-LOC\n")
    with raises(ValueError, f"{path}, line 3", "utf-8"):
        read_tagged(path)


# Tagged lines: `words<TAB>tags` -----------------------------------------------------


def test_tagged_lines(tmp_path):
    text = "\ufeff常 建 良\tB-NAME M-NAME E-NAME\r\n\r\n\r\nhe  left \t O   O  \r\n"
    examples = read_tagged(write(tmp_path, "a.char.bmes", text))
    assert examples.words == [["常", "建", "良"], ["he", "left"]]
    assert examples.tags == [["B-NAME", "M-NAME", "E-NAME"], ["O", "O"]]
    assert examples.line_numbers == [1, 4]
    assert examples.location(1, 1) == f"{tmp_path / 'a.char.bmes'}, line 4, word 2"
    assert not examples.one_word_per_line


def test_tagged_lines_without_tags(tmp_path):
    path = write(tmp_path, "a.bio", "a b\nc d\tO O")
    assert read_tagged(path, tags=False).words == [["a", "b"], ["c", "d"]]
    assert read_tagged(path, tags=False).tags is None


@pytest.mark.parametrize("line,fragments", [
    ("a b\tO O\tO", ["line 2", "2 tabs"]),
    ("a b", ["line 2", "no tab"]),
    ("a b c\tO O", ["line 2", "2 tags for 3 words"]),
    ("\tO", ["line 2", "without words"]),
])
def test_tagged_lines_errors(tmp_path, line, fragments):
    path = write(tmp_path, "a.iob", f"x\tO\n{line}\n")
    with raises(ValueError, str(path), *fragments):
        read_tagged(path)


def test_tagged_lines_empty_file(tmp_path):
    path = write(tmp_path, "a.bioes", "\n \n")
    with raises(ValueError, f"{path} holds no sentence"):
        read_tagged(path)


# seq.in folders: parallel files, line i is sentence i -----------------------------


def seq_in_folder(tmp_path, seq_in="show flights\nto boston \n", seq_out="O O\nO B-city \n",
                  label="atis_flight\natis_flight\n"):
    folder = tmp_path / "train"
    folder.mkdir(parents=True)
    for name, text in (("seq.in", seq_in), ("seq.out", seq_out), ("label", label)):
        if text is not None:
            write(folder, name, text)
    return folder


def test_seq_in_folder(tmp_path):
    folder = seq_in_folder(tmp_path)
    examples = read_tagged(folder, label_column="label")
    assert examples.words == [["show", "flights"], ["to", "boston"]]
    assert examples.tags == [["O", "O"], ["O", "B-city"]]
    assert examples.labels == ["atis_flight", "atis_flight"]
    assert examples.line_numbers == [1, 2] and examples.source == str(folder)
    assert read_tagged(folder).labels is None  # labels only when asked for


def test_seq_in_without_tags_needs_no_tag_file(tmp_path):
    folder = seq_in_folder(tmp_path, seq_out=None, label=None)
    examples = read_tagged(folder, format="seq_in", tags=False)
    assert examples.tags is None and len(examples) == 2
    with raises(FileNotFoundError, str(folder / "seq.out")):
        read_tagged(folder)


def test_seq_in_files_of_different_lengths(tmp_path):
    folder = seq_in_folder(tmp_path, seq_out="O O\n")
    with raises(ValueError, str(folder / "seq.in"), "2 lines", str(folder / "seq.out"), "has 1"):
        read_tagged(folder)


def test_seq_in_errors_name_the_file_and_line(tmp_path):
    folder = seq_in_folder(tmp_path, seq_in="a b\n\nc\n", seq_out="O O\n\nO\n", label=None)
    with raises(ValueError, f"{folder / 'seq.in'}, line 2", "without words"):
        read_tagged(folder)
    folder = seq_in_folder(tmp_path / "b", seq_in="a b\nc d\n", seq_out="O O\nO\n")
    with raises(ValueError, f"{folder / 'seq.out'}, line 2", "1 tags for the 2 words"):
        read_tagged(folder)
    folder = seq_in_folder(tmp_path / "c", label=" \nx\n")
    with raises(ValueError, f"{folder / 'label'}, line 1", "empty sentence label"):
        read_tagged(folder, label_column="label")


def test_seq_in_other_file_names(tmp_path):
    folder = seq_in_folder(tmp_path)
    write(folder, "slots", "B-a O\nO O\n")
    examples = read_tagged(folder, text_column="seq.in", tag_column="slots")
    assert examples.tags[0] == ["B-a", "O"]


def test_missing_paths(tmp_path):
    with raises(FileNotFoundError, str(tmp_path / "nope.txt")):
        read_tagged(tmp_path / "nope.txt")
    folder = seq_in_folder(tmp_path)
    with raises(FileNotFoundError, str(folder / "intent")):
        read_tagged(folder, label_column="intent")


# JSON lines ---------------------------------------------------------------------------


def jsonl(tmp_path, *records):
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return write(tmp_path, "a.jsonl", "\r\n".join(lines))


def test_jsonl(tmp_path):
    path = jsonl(tmp_path, {"tokens": ["to", "Rome "], "tags": ["O", "B-LOC"], "intent": "go"},
                 "", {"tokens": ["hi"], "tags": ["O"], "intent": "greet"})
    examples = read_tagged(path, label_column="intent")
    assert examples.words == [["to", "Rome"], ["hi"]]
    assert examples.tags == [["O", "B-LOC"], ["O"]]
    assert examples.labels == ["go", "greet"] and examples.line_numbers == [1, 3]
    assert read_tagged(path, tags=False).tags is None


def test_jsonl_other_keys(tmp_path):
    path = jsonl(tmp_path, {"w": ["a"], "t": ["O"]})
    assert read_tagged(path, text_column="w", tag_column="t").tags == [["O"]]


@pytest.mark.parametrize("record,fragments", [
    ({"tokens": "to Rome", "tags": ["O", "O"]}, ["'tokens'", "list of strings", "str"]),
    ({"tokens": ["to", 5], "tags": ["O", "O"]}, ["'tokens'", "item 2 is int"]),
    ({"tokens": ["to"], "tags": [None]}, ["'tags'", "item 1 is NoneType"]),
    ({"tokens": ["to"], "tags": ["O"], "intent": 3}, ["'intent'", "must be a string"]),
    ({"tokens": ["to"]}, ["no key 'tags'"]),
    ({"tokens": ["to", "Rome"], "tags": ["O"], "intent": "go"}, ["1 tags for 2 words"]),
    ({"tokens": [], "tags": [], "intent": "go"}, ["without words"]),
    ({"tokens": ["to"], "tags": ["O"], "intent": ""}, ["empty sentence label"]),
    ({"tokens": ["to", " "], "tags": ["O", "O"], "intent": "go"}, ["word 2", "empty word"]),
    ({"tokens": ["to"], "tags": [""], "intent": "go"}, ["word 1", "empty tag"]),
    ('{"tokens": ["to"],', ["invalid JSON"]),
    ('["to"]', ["expected a JSON object"]),
])
def test_jsonl_errors_name_the_line(tmp_path, record, fragments):
    path = jsonl(tmp_path, {"tokens": ["ok"], "tags": ["O"], "intent": "x"}, record)
    with raises(ValueError, f"{path}, line 2", *fragments):
        read_tagged(path, label_column="intent")


def test_jsonl_empty(tmp_path):
    path = write(tmp_path, "a.json", "\n")
    with raises(ValueError, f"{path} holds no sentence"):
        read_tagged(path)


# Choosing the format ----------------------------------------------------------------


def test_format_from_the_path(tmp_path):
    for name in ("a.txt", "a.conll"):
        assert read_tagged(write(tmp_path, name, "a O\n")).one_word_per_line
    for name in ("a.bmes", "a.bio", "a.bioes", "a.iob"):
        assert read_tagged(write(tmp_path, name, "a b\tO O\n")).words == [["a", "b"]]
    path = write(tmp_path, "a.tsv", "a b\tO O\n")
    with raises(ValueError, f"{path}", "'.tsv'", "set format", ", ".join(TAGGED_FORMATS)):
        read_tagged(path)
    assert read_tagged(path, format="tagged_lines").tags == [["O", "O"]]


def test_format_mistakes(tmp_path):
    path = write(tmp_path, "a.txt", "a O\n")
    with raises(ValueError, "unknown tagged format 'iob'"):
        read_tagged(path, format="iob")
    with raises(ValueError, "seq_in format reads a folder"):
        read_tagged(path, format="seq_in")
    with raises(ValueError, "is a folder", "conll"):
        read_tagged(tmp_path, format="conll")
    with raises(ValueError, "label_column cannot be used with the conll format"):
        read_tagged(path, label_column="intent")
    with raises(ValueError, "tag_column cannot be used with the tagged_lines format"):
        read_tagged(write(tmp_path, "a.bio", "a\tO\n"), tag_column=1)


# TaggedExamples --------------------------------------------------------------------


def test_given_and_select():
    examples = TaggedExamples.given([["a", "b"], ["c"], ["d"]], [["B-X", "I-X"], ["O"], ["O"]],
                                    labels=["p", "q", "r"])
    assert len(examples) == 3 and examples.source == "examples given"
    assert examples.line_numbers == [1, 2, 3]
    assert examples.location(0, 1) == "examples given, line 1, word 2"
    subset = examples.select([2, 0])
    assert subset.words == [["d"], ["a", "b"]] and subset.labels == ["r", "p"]
    assert subset.line_numbers == [3, 1] and subset.tags == [["O"], ["B-X", "I-X"]]
    assert TaggedExamples.given([["a"]]).tags is None


def test_given_checks_every_sentence():
    with raises(ValueError, "examples given, line 2", "1 tags for 2 words"):
        TaggedExamples.given([["a"], ["b", "c"]], [["O"], ["O"]])
    with raises(ValueError, "examples given, line 1", "without words"):
        TaggedExamples.given([[]], [[]])
    with raises(ValueError, "list of strings per sentence"):
        TaggedExamples.given(["a b"])
    with raises(ValueError, "labels has 1 entries but words has 2"):
        TaggedExamples.given([["a"], ["b"]], labels=["x"])


# The real benchmark files (../shared/data: skipped without it) -------------------------


def test_real_conll_test_file():
    path = benchmark_data("conll2003/test.txt")
    examples = read_tagged(path)
    assert len(examples) == 3453
    assert examples.words[0] == ["SOCCER", "-", "JAPAN", "GET", "LUCKY", "WIN", ",", "CHINA",
                                 "IN", "SURPRISE", "DEFEAT", "."]
    assert examples.tags[0][:3] == ["O", "O", "B-LOC"]
    assert examples.location(0, 2) == f"{path}, line 5"


@pytest.mark.parametrize("path,count,options", [
    ("resume_ner/test.char.bmes", 477, {}),
    ("atis/test", 893, {"label_column": "label"}),
    ("snips/test", 700, {"label_column": "label"}),
])
def test_real_files(path, count, options):
    examples = read_tagged(benchmark_data(path), **options)
    assert len(examples) == count
    assert all(len(w) == len(t) for w, t in zip(examples.words, examples.tags))
