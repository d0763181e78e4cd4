"""Writes tests/fixtures/tokenizer_reference.json.gz: reference token ids from Hugging Face.

The reference is `transformers`' BertTokenizerLegacy, the Python port of Google's
BERT tokenization.py, on the all-MiniLM-L6-v2 vocabulary (uncased). For each text
it records the WordPiece ids without special tokens; for pairs and truncation cases
it also records Hugging Face's packed input_ids and token_type_ids.

Texts come from ../shared/data (read again by the tests, never stored here) and from
tests/fixtures/hard_strings.json.

Literal special tokens: we want "[CLS]" in a text to be plain text, as in Google's
original. `tokenizer.tokenize(text, split_special_tokens=True)` does not quite give
that: it skips HF's added-token splitting but BertTokenizerLegacy still passes its
special tokens as `never_split` to the basic tokenizer, so a space-separated "[CLS]"
stays one token (id 101). BertTokenizerLegacy's own `_tokenize(text,
split_special_tokens=True)` turns that off, so that is the reference used here. The
script checks that the public call agrees everywhere else and records where it
differs.

This is the only file of the project that imports transformers. Run from the
repository root:  python tools/make_tokenizer_fixture.py
"""

import gzip
import hashlib
import json
import pathlib
import platform
import sys
import unicodedata

import transformers
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from tfbert.pretrained import resolve_checkpoint_dir  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HARD_STRINGS = ROOT / "tests" / "fixtures" / "hard_strings.json"
OUTPUT = ROOT / "tests" / "fixtures" / "tokenizer_reference.json.gz"
CHECKPOINT = "all-minilm-l6-v2"

# (name, file under ../shared/data, column, number of rows or None for all)
SOURCES = [
    ("sst2_dev", "sst2/dev.tsv", "sentence", None),
    ("sst2_train", "sst2/train.tsv", "sentence", 2000),
    ("chnsenticorp_dev", "chnsenticorp/dev.tsv", "text_a", None),
]


def read_tsv_column(path, column, num_rows=None):
    """One column of a TSV file with a header line (same reader as the tests)."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
    index = lines[0].split("\t").index(column)
    texts = [line.split("\t")[index] for line in lines[1:] if line]
    return texts if num_rows is None else texts[:num_rows]


def hard_strings():
    """The entries of hard_strings.json with `repeat` expanded."""
    entries = json.loads(HARD_STRINGS.read_text(encoding="utf-8"))["strings"]
    return [dict(entry, text=entry["text"] * entry.get("repeat", 1)) for entry in entries]


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def main():
    vocab_file = resolve_checkpoint_dir(CHECKPOINT) / "vocab.txt"
    tokenizer = BertTokenizerLegacy(vocab_file=str(vocab_file), do_lower_case=True)

    def ids(text):
        return tokenizer.convert_tokens_to_ids(tokenizer._tokenize(text, split_special_tokens=True))

    public_api_differences = []

    def check_public_api(text, reference, where):
        public = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text, split_special_tokens=True))
        if public != reference:
            words = set(text.split())
            assert words & set(tokenizer.all_special_tokens), f"unexpected difference at {where}: {text!r}"
            public_api_differences.append({"where": where, "public_tokenize_ids": public})

    def packed(text, text_pair, max_length, where):
        """HF's packing and longest_first truncation of the reference ids."""
        first = ids(text)
        second = None if text_pair is None else ids(text_pair)
        encoding = tokenizer.prepare_for_model(
            first, second, truncation="longest_first", max_length=max_length, return_token_type_ids=True
        )
        result = {"input_ids": encoding["input_ids"], "token_type_ids": encoding["token_type_ids"]}
        # Same through the public call, when the texts hold no literal special tokens.
        texts = text + " " + (text_pair or "")
        if not set(texts.split()) & set(tokenizer.all_special_tokens):
            public = tokenizer(
                text, text_pair, truncation="longest_first", max_length=max_length,
                return_token_type_ids=True, split_special_tokens=True,
            )
            assert public["input_ids"] == result["input_ids"], where
            assert public["token_type_ids"] == result["token_type_ids"], where
        return result

    fixture = {
        "about": __doc__.split("\n\n")[0],
        "generator": "tools/make_tokenizer_fixture.py",
        "reference": "transformers BertTokenizerLegacy(vocab_file, do_lower_case=True)"
        "._tokenize(text, split_special_tokens=True), then convert_tokens_to_ids",
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "unicodedata_version": unicodedata.unidata_version,
        "checkpoint": CHECKPOINT,
        "vocab_sha256": sha256(vocab_file),
        "sources": {},
        "packed": [],
    }

    texts_by_source = {}
    for name, file, column, num_rows in SOURCES:
        texts = read_tsv_column(DATA / file, column, num_rows)
        texts_by_source[name] = texts
        fixture["sources"][name] = {
            "file": file,
            "file_sha256": sha256(DATA / file),
            "column": column,
            "rows": len(texts),  # rows 0..rows-1 after the header
            "ids": [ids(text) for text in texts],
        }
        for row, text in enumerate(texts):
            check_public_api(text, fixture["sources"][name]["ids"][row], [name, row])

    entries = hard_strings()
    fixture["sources"]["hard_strings"] = {
        "file": "tests/fixtures/hard_strings.json",
        "file_sha256": sha256(HARD_STRINGS),
        "rows": len(entries),
        "ids": [ids(entry["text"]) for entry in entries],
        # ids of text_pair, for the entries that have one
        "pair_ids": {str(row): ids(entry["text_pair"]) for row, entry in enumerate(entries) if "text_pair" in entry},
    }
    for row, entry in enumerate(entries):
        check_public_api(entry["text"], fixture["sources"]["hard_strings"]["ids"][row], ["hard_strings", row])

    # Packing: hard strings with a pair or a max_length ...
    for row, entry in enumerate(entries):
        if "text_pair" in entry or "max_length" in entry:
            max_length = entry.get("max_length", 512)
            case = {
                "text": ["hard_strings", row, "text"],
                "text_pair": ["hard_strings", row, "text_pair"] if "text_pair" in entry else None,
                "max_length": max_length,
            }
            case.update(packed(entry["text"], entry.get("text_pair"), max_length, case))
            fixture["packed"].append(case)
    # ... and truncation of real sentences: consecutive SST-2 dev sentences as pairs
    # and singles at several max_length, and the longest Chinese reviews at 512.
    sst2 = texts_by_source["sst2_dev"]
    for i, max_length in enumerate([3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 24, 32, 48, 64, 128]):
        for row in (2 * i, 100 + 3 * i):
            case = {"text": ["sst2_dev", row, "sentence"], "text_pair": ["sst2_dev", row + 1, "sentence"],
                    "max_length": max_length}
            case.update(packed(sst2[row], sst2[row + 1], max_length, case))
            fixture["packed"].append(case)
        if max_length >= 2:
            row = 200 + i
            case = {"text": ["sst2_dev", row, "sentence"], "text_pair": None, "max_length": max_length}
            case.update(packed(sst2[row], None, max_length, case))
            fixture["packed"].append(case)
    chinese = texts_by_source["chnsenticorp_dev"]
    longest = sorted(range(len(chinese)), key=lambda row: -len(fixture["sources"]["chnsenticorp_dev"]["ids"][row]))
    for row in longest[:3]:
        case = {"text": ["chnsenticorp_dev", row, "text_a"], "text_pair": None, "max_length": 512}
        case.update(packed(chinese[row], None, 512, case))
        fixture["packed"].append(case)
    row_a, row_b = longest[3], longest[4]
    case = {"text": ["chnsenticorp_dev", row_a, "text_a"], "text_pair": ["chnsenticorp_dev", row_b, "text_a"],
            "max_length": 512}
    case.update(packed(chinese[row_a], chinese[row_b], 512, case))
    fixture["packed"].append(case)

    fixture["public_api_differences"] = public_api_differences

    data = json.dumps(fixture, ensure_ascii=True, separators=(",", ":")).encode()
    # mtime=0: the same inputs give the same bytes.
    OUTPUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    for name, source in fixture["sources"].items():
        print(f"{name}: {source['rows']} texts, {sum(map(len, source['ids']))} tokens")
    print(f"packed cases: {len(fixture['packed'])}; public tokenize() differs on {len(public_api_differences)} text(s)")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
