import re

import pytest

from conftest import benchmark_data
from tfbert.data.readers import TextExamples, read_examples


def write(folder, name, text, encoding="utf-8"):
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def raises(error, *fragments):
    """pytest.raises matching every fragment, in order, anywhere in the message."""
    return pytest.raises(error, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


# The real benchmark files (../shared/data: skipped without it) -------------------------


def test_sst2_dev():
    path = benchmark_data("sst2/dev.tsv")
    examples = read_examples(path, text_column="sentence", label_column="label")
    assert len(examples) == 872
    assert examples.text_pairs is None
    # SST-2 sentences end with a space before the tab; text fields are stripped.
    assert examples.texts[0] == "it 's a charming and often affecting journey ."
    assert examples.labels[:2] == ["1", "0"]
    assert examples.line_numbers[:2] == [2, 3]
    assert examples.source == str(path)


def test_stsb_dev_pairs_by_name_and_index():
    path = benchmark_data("stsb/dev.tsv")
    examples = read_examples(path, text_column="sentence1", text_pair_column="sentence2",
                             label_column="score")
    assert len(examples) == 1500
    assert examples.texts[0] == "A man with a hard hat is dancing."
    assert examples.text_pairs[0] == "A man wearing a hard hat is dancing."
    assert examples.labels[0] == "5.000"
    by_index = read_examples(path, text_column=7, text_pair_column="8", label_column=9)
    assert by_index == examples


def test_mrpc_dev_bom_header_and_unbalanced_quotes():
    examples = read_examples(benchmark_data("mrpc/dev.tsv"), text_column="#1 String",
                             text_pair_column="#2 String", label_column="Quality")
    # 408 rows only if the quote that line 2 never closes is read as a plain character.
    assert len(examples) == 408
    assert examples.text_pairs[0].startswith('"The foodservice pie business')
    assert examples.labels[:3] == ["1", "0", "0"]


def test_chnsenticorp_dev():
    examples = read_examples(benchmark_data("chnsenticorp/dev.tsv"), text_column="text_a",
                             label_column="label")
    assert len(examples) == 1200
    assert set(examples.labels) == {"0", "1"}


def test_sst2_crlf_file():
    examples = read_examples(benchmark_data("sst2/test_labeled_unofficial.tsv"), text_column="sentence",
                             label_column="label")
    assert len(examples) == 1821
    assert set(examples.labels) == {"0", "1"}  # no "1\r"


def test_atis_and_snips_folders():
    atis = read_examples(benchmark_data("atis/test"))
    assert len(atis) == 893
    assert atis.texts[0].startswith("i would like to find a flight from charlotte")
    assert atis.line_numbers[:2] == [1, 2]
    assert any("#" in label for label in atis.labels)
    snips = read_examples(benchmark_data("snips/test"), format="seq_in")
    assert len(snips) == 700
    # SNIPS lines end with spaces.
    assert not any(text != text.strip() for text in snips.texts)
    assert snips.labels[0] == "AddToPlaylist"


# TSV / CSV ----------------------------------------------------------------------------


def test_tsv_without_header_and_unlabelled(tmp_path):
    path = write(tmp_path, "x.tsv", "good movie\t1\nbad\t0\n")
    examples = read_examples(path, text_column=0, has_header=False)
    assert examples.texts == ["good movie", "bad"]
    assert examples.labels is None
    assert examples.line_numbers == [1, 2]


def test_crlf_bom_and_inner_whitespace_kept(tmp_path):
    path = write(tmp_path, "x.tsv", "\ufefftext\tlabel\r\n  a  b \t pos \r\n")
    examples = read_examples(path, text_column="text", label_column="label")
    assert examples.texts == ["a  b"]
    assert examples.labels == ["pos"]


def test_csv_quoting_and_multiline_field(tmp_path):
    path = write(tmp_path, "x.csv", 'text,label\n"a, ""quoted"" text",1\n"two\nlines",0\nlast,1\n')
    examples = read_examples(path, text_column="text", label_column="label")
    assert examples.texts == ['a, "quoted" text', "two\nlines", "last"]
    assert examples.line_numbers == [2, 3, 5]


def test_quoting_override(tmp_path):
    tsv = write(tmp_path, "x.tsv", 'text\tlabel\n"a\tb"\t1\n')
    assert read_examples(tsv, text_column="text", label_column="label",
                         quoting="minimal").texts == ["a\tb"]
    csv = write(tmp_path, "x.csv", 'text,label\n"hi,1\n')
    assert read_examples(csv, text_column="text", label_column="label",
                         quoting="none").texts == ['"hi']
    with raises(ValueError, "quoting", "'sometimes'"):
        read_examples(csv, text_column="text", quoting="sometimes")


def test_custom_delimiter_and_explicit_format(tmp_path):
    path = write(tmp_path, "data.txt", "text|label\nhello|greeting\n")
    examples = read_examples(path, text_column="text", label_column="label", format="tsv",
                             delimiter="|")
    assert examples.labels == ["greeting"]


def test_trailing_blank_lines_ignored(tmp_path):
    path = write(tmp_path, "x.tsv", "text\tlabel\na\t1\n\n\r\n")
    assert len(read_examples(path, text_column="text", label_column="label")) == 1


def test_blank_line_between_rows_is_an_error(tmp_path):
    path = write(tmp_path, "x.tsv", "text\tlabel\na\t1\n\nb\t0\n")
    with raises(ValueError, "x.tsv", "line 3", "blank line"):
        read_examples(path, text_column="text", label_column="label")


def test_missing_file():
    with raises(FileNotFoundError, "nowhere.tsv"):
        read_examples("/nowhere/nowhere.tsv", text_column="text")


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, "x.tsv", text)
    with raises(ValueError, "x.tsv", "is empty"):
        read_examples(path, text_column="text")


def test_header_without_rows(tmp_path):
    path = write(tmp_path, "x.tsv", "text\tlabel\n")
    with raises(ValueError, "x.tsv", "header (line 1) but no rows"):
        read_examples(path, text_column="text")


def test_unknown_column_lists_the_header(tmp_path):
    path = write(tmp_path, "x.tsv", "sentence\tlabel\na\t1\n")
    with raises(ValueError, "x.tsv", "no column 'text'", "'sentence', 'label'"):
        read_examples(path, text_column="text")


def test_column_name_without_header(tmp_path):
    path = write(tmp_path, "x.tsv", "a\t1\n")
    with raises(ValueError, "x.tsv", "has_header=False", "0-based index"):
        read_examples(path, text_column="text", has_header=False)


@pytest.mark.parametrize("has_header", [True, False])
def test_index_out_of_range(tmp_path, has_header):
    path = write(tmp_path, "x.tsv", "text\tlabel\na\t1\n")
    with raises(ValueError, "x.tsv", "column index 5 is out of range", "line 1", "2 fields"):
        read_examples(path, text_column=0, label_column=5, has_header=has_header)


def test_row_with_too_few_fields(tmp_path):
    path = write(tmp_path, "x.tsv", "text\tlabel\na\t1\nb\n")
    with raises(ValueError, "x.tsv", "line 3", "expected 2 fields", "found 1"):
        read_examples(path, text_column="text", label_column="label")


def test_row_with_too_many_fields(tmp_path):
    # An unquoted tab inside a text shifts the columns: an error, not a wrong pairing.
    path = write(tmp_path, "x.tsv", "label\ttext\n1\ta\tb\n")
    with raises(ValueError, "x.tsv", "line 2", "expected 2 fields", "found 3"):
        read_examples(path, text_column="text", label_column="label")


def test_empty_label(tmp_path):
    path = write(tmp_path, "x.csv", "text,label\na,1\nb, \n")
    with raises(ValueError, "x.csv", "line 3", "empty label", "'label'"):
        read_examples(path, text_column="text", label_column="label")


def test_malformed_csv_quoting(tmp_path):
    path = write(tmp_path, "x.csv", 'text,label\na,1\n"b"x,0\n')
    with raises(ValueError, "x.csv", "line 3", "quoting"):
        read_examples(path, text_column="text", label_column="label")


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_bytes(b"text\na\n\xff\n")
    with raises(ValueError, "x.tsv", "line 3", "utf-8"):
        read_examples(path, text_column="text")
    assert read_examples(path, text_column="text", encoding="latin-1").texts == ["a", "\xff"]


def test_duplicate_column_name(tmp_path):
    path = write(tmp_path, "x.tsv", "text\ttext\na\tb\n")
    with raises(ValueError, "x.tsv", "'text' appears 2 times"):
        read_examples(path, text_column="text")


# Formats ------------------------------------------------------------------------------


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, "x.parquet", "")
    with raises(ValueError, "x.parquet", "tsv, csv, jsonl, seq_in"):
        read_examples(path, text_column="text")


def test_unknown_format(tmp_path):
    path = write(tmp_path, "x.tsv", "text\na\n")
    with raises(ValueError, "x.tsv", "unknown format 'xml'"):
        read_examples(path, text_column="text", format="xml")


def test_text_column_required(tmp_path):
    path = write(tmp_path, "x.tsv", "text\na\n")
    with raises(ValueError, "x.tsv", "text_column is required"):
        read_examples(path)


def test_folder_without_seq_in(tmp_path):
    with raises(ValueError, str(tmp_path), "seq.in"):
        read_examples(tmp_path)


# JSON lines ---------------------------------------------------------------------------


def test_jsonl(tmp_path):
    path = write(tmp_path, "x.jsonl",
                 '{"text": " a ", "other": "b", "label": "pos"}\n\n{"text": "c", "other": "d", "label": 1}\n')
    examples = read_examples(path, text_column="text", text_pair_column="other", label_column="label")
    assert examples.texts == ["a", "c"]
    assert examples.text_pairs == ["b", "d"]
    assert examples.labels == ["pos", "1"]  # a number label reads as the TSV string would
    assert examples.line_numbers == [1, 3]  # the blank line is skipped, not renumbered


def test_json_suffix_is_json_lines(tmp_path):
    path = write(tmp_path, "x.json", '{"text": "a"}\n')
    assert read_examples(path, text_column="text").texts == ["a"]


def test_jsonl_invalid_json(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": "a"}\n{"text": \n')
    with raises(ValueError, "x.jsonl", "line 2", "invalid JSON"):
        read_examples(path, text_column="text")


def test_jsonl_array_hint(tmp_path):
    path = write(tmp_path, "x.json", '[{"text": "a"},\n{"text": "b"}]\n')
    with raises(ValueError, "x.json", "line 1", "one object per line"):
        read_examples(path, text_column="text")


def test_jsonl_not_an_object(tmp_path):
    path = write(tmp_path, "x.jsonl", '"just a string"\n')
    with raises(ValueError, "x.jsonl", "line 1", "expected a JSON object"):
        read_examples(path, text_column="text")


def test_jsonl_missing_key(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": "a", "label": "x"}\n{"txt": "b", "label": "y"}\n')
    with raises(ValueError, "x.jsonl", "line 2", "no key 'text'", "'txt', 'label'"):
        read_examples(path, text_column="text", label_column="label")


def test_jsonl_non_string_text(tmp_path):
    path = write(tmp_path, "x.jsonl", '{"text": 3}\n')
    with raises(ValueError, "x.jsonl", "line 1", "'text' must be a string", "int"):
        read_examples(path, text_column="text")


@pytest.mark.parametrize("label, message", [("null", "is null"), ('""', "empty label"),
                                            ('["a", "b"]', "joined by the label separator"),
                                            ("true", "must be a string or a number")])
def test_jsonl_bad_label(tmp_path, label, message):
    path = write(tmp_path, "x.jsonl", f'{{"text": "a", "label": "ok"}}\n{{"text": "b", "label": {label}}}\n')
    with raises(ValueError, "x.jsonl", "line 2", message):
        read_examples(path, text_column="text", label_column="label")


def test_jsonl_empty(tmp_path):
    path = write(tmp_path, "x.jsonl", "\n\n")
    with raises(ValueError, "x.jsonl", "is empty"):
        read_examples(path, text_column="text")


# seq.in folders -----------------------------------------------------------------------


def seq_in_folder(tmp_path, texts, labels=None, name="split"):
    folder = tmp_path / name
    folder.mkdir()
    write(folder, "seq.in", texts)
    if labels is not None:
        write(folder, "label", labels)
    return folder


def test_seq_in_without_labels(tmp_path):
    folder = seq_in_folder(tmp_path, "show flights  \nfares\n")
    examples = read_examples(folder)
    assert examples.texts == ["show flights", "fares"]
    assert examples.labels is None
    assert examples.source == str(folder)


def test_seq_in_line_count_mismatch(tmp_path):
    folder = seq_in_folder(tmp_path, "a\nb\nc\n", "x\ny\n")
    with raises(ValueError, "seq.in has 3 lines", "label has 2"):
        read_examples(folder)


def test_seq_in_blank_line(tmp_path):
    folder = seq_in_folder(tmp_path, "a\nb\n", "x\n\n\n")  # trailing blank lines are fine ...
    with raises(ValueError, "has 2 lines", "label has 1"):
        read_examples(folder)
    folder = seq_in_folder(tmp_path, "a\n\nc\n", "x\ny\nz\n", name="other")
    with raises(ValueError, "seq.in", "line 2", "blank line"):  # ... blank lines inside are not
        read_examples(folder)


def test_seq_in_named_label_file_missing(tmp_path):
    folder = seq_in_folder(tmp_path, "a\n")
    with raises(FileNotFoundError, "intent"):
        read_examples(folder, label_column="intent")


def test_seq_in_rejects_pairs_and_files(tmp_path):
    folder = seq_in_folder(tmp_path, "a\n", "x\n")
    with raises(ValueError, "text_pair_column"):
        read_examples(folder, text_pair_column="other")
    with raises(ValueError, "seq.in", "not a file"):
        read_examples(folder / "seq.in", format="seq_in")


# The value type -----------------------------------------------------------------------


def test_text_examples_lengths_must_match():
    examples = TextExamples(["a", "b"], None, ["1", "0"], "mem", [1, 2])
    assert len(examples) == 2
    with raises(ValueError, "mem", "labels has 1 entries", "texts has 2"):
        TextExamples(["a", "b"], None, ["1"], "mem", [1, 2])
