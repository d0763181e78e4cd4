"""Writes the tokenizer parity fixtures: reference token ids from Hugging Face.

The reference is `transformers`' BertTokenizerLegacy, the Python port of Google's
BERT tokenization.py, on the all-MiniLM-L6-v2 vocabulary (uncased). For each text
it records the WordPiece ids without special tokens; for pairs and truncation cases
it also records Hugging Face's packed input_ids and token_type_ids.

Two fixtures:

- tests/fixtures/tokenizer_sample.json.gz: a small sample of real text WITH the texts
  (a few hundred per source), so that the parity tests run on any clone, without
  ../shared. Its sources are public data whose licenses allow redistributing a sample:
  * "stsb_captions": 150 sentence pairs of the STS Benchmark dev split (GLUE STS-B,
    ../shared/data/stsb/dev.tsv; Cer et al. 2017, http://ixa2.si.ehu.eus/stswiki), only
    the rows of its caption files "images" (PASCAL VOC-2008 image descriptions,
    Rashtchian et al. 2010, released under CC BY-SA) and "track5.en-en" (a subset of
    SNLI by the Stanford NLP Group, CC BY-SA 4.0, based on a work at
    http://shannon.cs.illinois.edu/DenotationGraph/), as stsb/LICENSE.txt states. Only
    the sentences are kept (no scores). The sample is shared under CC BY-SA 4.0.
  * "medical_qa_zh": 154 documents (Chinese, with digits, Latin and full-width
    punctuation) of ../shared/data/medical_corpus/toyhom_neike_qa.txt, from
    Toyhom/Chinese-medical-dialogue-data @ 26724a4, MIT license (its copyright notice
    and permission notice are copied into the fixture).
  The fixture names each source, its license and the rows taken.
- tests/fixtures/tokenizer_reference.json.gz: ids of tests/fixtures/hard_strings.json
  (the project's own strings) and packing cases on them; nothing drawn from the
  benchmark data. The whole benchmark files (SST-2 dev and train, ChnSentiCorp dev)
  are compared with Hugging Face at test time instead (tests/test_tokenizer.py reads
  them from ../shared/data and runs the same reference call): ChnSentiCorp's license
  is non-commercial and not for redistribution, SST-2's states none, so the project
  commits no text or token ids derived from them.

Literal special tokens: we want "[CLS]" in a text to be plain text, as in Google's
original. `tokenizer.tokenize(text, split_special_tokens=True)` does not quite give
that: it skips HF's added-token splitting but BertTokenizerLegacy still passes its
special tokens as `never_split` to the basic tokenizer, so a space-separated "[CLS]"
stays one token (id 101). BertTokenizerLegacy's own `_tokenize(text,
split_special_tokens=True)` turns that off, so that is the reference used here. The
script checks that the public call agrees everywhere else and records where it
differs.

The sample needs ../shared/data (it is drawn from it); the reference fixture does not.
Besides this file, transformers is imported by tests/test_tokenizer_fuzz.py and by the
benchmark parity tests of tests/test_tokenizer.py. Run from the repository root:
    python tools/make_tokenizer_fixture.py              # both fixtures
    python tools/make_tokenizer_fixture.py --sample     # only tokenizer_sample.json.gz
    python tools/make_tokenizer_fixture.py --reference  # only tokenizer_reference.json.gz
"""

import argparse
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
from tfbert.models.pretrained import resolve_checkpoint_dir  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HARD_STRINGS = ROOT / "tests" / "fixtures" / "hard_strings.json"
OUTPUT = ROOT / "tests" / "fixtures" / "tokenizer_reference.json.gz"
SAMPLE_OUTPUT = ROOT / "tests" / "fixtures" / "tokenizer_sample.json.gz"
CHECKPOINT = "all-minilm-l6-v2"
REFERENCE = ("transformers BertTokenizerLegacy(vocab_file, do_lower_case=True)"
             "._tokenize(text, split_special_tokens=True), then convert_tokens_to_ids")

# The sample: STS-B dev pairs from the caption files (CC BY-SA), evenly spread over
# each file's rows, and Chinese Q&A documents (MIT), evenly spread plus the longest.
STSB_FILE = "stsb/dev.tsv"
STSB_CAPTION_FILES = {"images": 75, "track5.en-en": 75}  # file -> pairs taken
CHINESE_FILE = "medical_corpus/toyhom_neike_qa.txt"
CHINESE_LICENSE_FILE = "medical_corpus/LICENSE.Toyhom-Chinese-medical-dialogue-data.txt"
CHINESE_SPREAD, CHINESE_LONGEST = 150, 4
MAX_LENGTHS = [3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20, 24, 32, 48, 64, 128]


def hard_strings():
    """The entries of hard_strings.json with `repeat` expanded."""
    entries = json.loads(HARD_STRINGS.read_text(encoding="utf-8"))["strings"]
    return [dict(entry, text=entry["text"] * entry.get("repeat", 1)) for entry in entries]


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def spread(items, count):
    """`count` items evenly spread over `items`, in order, the first one included."""
    return [items[i * len(items) // count] for i in range(min(count, len(items)))]


class Reference:
    """Hugging Face's ids and packing, and the public-API check, for one fixture."""

    def __init__(self):
        self.vocab_file = resolve_checkpoint_dir(CHECKPOINT) / "vocab.txt"
        self.tokenizer = BertTokenizerLegacy(vocab_file=str(self.vocab_file), do_lower_case=True)
        self.public_api_differences = []

    def header(self, about):
        return {
            "about": about,
            "generator": "tools/make_tokenizer_fixture.py",
            "reference": REFERENCE,
            "transformers_version": transformers.__version__,
            "python_version": platform.python_version(),
            "unicodedata_version": unicodedata.unidata_version,
            "checkpoint": CHECKPOINT,
            "vocab_sha256": sha256(self.vocab_file),
        }

    def ids(self, text):
        tokenizer = self.tokenizer
        return tokenizer.convert_tokens_to_ids(tokenizer._tokenize(text, split_special_tokens=True))

    def check_public_api(self, text, reference, where):
        tokenizer = self.tokenizer
        public = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text, split_special_tokens=True))
        if public != reference:
            words = set(text.split())
            assert words & set(tokenizer.all_special_tokens), f"unexpected difference at {where}: {text!r}"
            self.public_api_differences.append({"where": where, "public_tokenize_ids": public})

    def packed(self, text, text_pair, max_length, where):
        """HF's packing and longest_first truncation of the reference ids."""
        tokenizer = self.tokenizer
        first = self.ids(text)
        second = None if text_pair is None else self.ids(text_pair)
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

    def hard_string_cases(self, entries):
        """Packing cases: the hard strings with a pair or a max_length."""
        cases = []
        for row, entry in enumerate(entries):
            if "text_pair" in entry or "max_length" in entry:
                max_length = entry.get("max_length", 512)
                case = {
                    "text": ["hard_strings", row, "text"],
                    "text_pair": ["hard_strings", row, "text_pair"] if "text_pair" in entry else None,
                    "max_length": max_length,
                }
                case.update(self.packed(entry["text"], entry.get("text_pair"), max_length, case))
                cases.append(case)
        return cases


def write(path, fixture, ensure_ascii=True):
    data = json.dumps(fixture, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()
    # mtime=0: the same inputs give the same bytes.
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    for name, source in fixture["sources"].items():
        print(f"{name}: {len(source['ids'])} texts, {sum(map(len, source['ids']))} tokens")
    print(f"packed cases: {len(fixture['packed'])}; public tokenize() differs on "
          f"{len(fixture['public_api_differences'])} text(s)")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def make_reference():
    """tokenizer_reference.json.gz: ids and packing of the hard strings (no benchmark
    data: tests/test_tokenizer.py computes the benchmark files' reference at test time)."""
    reference = Reference()
    ids = reference.ids
    fixture = reference.header(
        "Token ids and packing from Hugging Face's reference tokenizer for "
        "tests/fixtures/hard_strings.json (texts in that file). Holds nothing derived from "
        "the benchmark data: the tests compute that reference from ../shared/data.")
    fixture.update({"sources": {}, "packed": []})

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
        reference.check_public_api(entry["text"], fixture["sources"]["hard_strings"]["ids"][row],
                                   ["hard_strings", row])

    # Packing: hard strings with a pair or a max_length.
    fixture["packed"] += reference.hard_string_cases(entries)

    fixture["public_api_differences"] = reference.public_api_differences
    write(OUTPUT, fixture)


def stsb_caption_pairs():
    """[(GLUE index, file, sentence1, sentence2)] of the caption files, spread per file."""
    lines = (DATA / STSB_FILE).read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]
    pairs = []
    for file, count in STSB_CAPTION_FILES.items():
        taken = spread([row for row in rows if row["filename"] == file], count)
        assert len(taken) == count, (file, len(taken))
        pairs += [(int(row["index"]), file, row["sentence1"], row["sentence2"]) for row in taken]
    return pairs


def chinese_documents(reference):
    """[(line number, text)]: documents spread over the file, then the longest in tokens
    (the two longest are over 510: cut at max_length 512)."""
    lines = (DATA / CHINESE_FILE).read_text(encoding="utf-8").split("\n")
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    chosen = spread(numbered, CHINESE_SPREAD)
    by_characters = sorted(numbered, key=lambda item: -len(item[1]))[:20]
    longest = sorted(by_characters, key=lambda item: -len(reference.ids(item[1])))
    chosen += [item for item in longest if item not in chosen][:CHINESE_LONGEST]
    return chosen


def make_sample():
    """tokenizer_sample.json.gz: texts and ids of a small, redistributable sample."""
    reference = Reference()
    ids, packed = reference.ids, reference.packed
    fixture = reference.header(
        "Token ids from Hugging Face's reference tokenizer for a small sample of real text, "
        "texts included: the tokenizer parity tests that run without ../shared/data.")
    fixture["sources"] = {}

    pairs = stsb_caption_pairs()
    captions = [text for _, _, first, second in pairs for text in (first, second)]
    fixture["sources"]["stsb_captions"] = {
        "from": f"../shared/data/{STSB_FILE}: the GLUE STS-B dev split of the STS Benchmark "
                "(Cer et al. 2017, http://ixa2.si.ehu.eus/stswiki), rows of its caption files "
                + ", ".join(f"{file!r} ({count} pairs, evenly spread)"
                            for file, count in STSB_CAPTION_FILES.items()),
        "license": "CC BY-SA 4.0. As the STS Benchmark's LICENSE.txt says: 'images' are PASCAL "
                   "VOC-2008 image descriptions (Rashtchian et al. 2010), released under a Creative "
                   "Commons Attribution-ShareAlike license; 'track5.en-en' is a subset of the "
                   "Stanford Natural Language Inference (SNLI) corpus by The Stanford NLP Group, "
                   "licensed under CC BY-SA 4.0, based on a work at "
                   "http://shannon.cs.illinois.edu/DenotationGraph/. Sentences only; no scores.",
        "file_sha256": sha256(DATA / STSB_FILE),
        "layout": "texts 2k and 2k+1 are sentence1 and sentence2 of pair k",
        "pairs": [[index, file] for index, file, _, _ in pairs],  # GLUE `index`, `filename`
        "texts": captions,
        "ids": [ids(text) for text in captions],
    }
    documents = chinese_documents(reference)
    chinese = [text for _, text in documents]
    fixture["sources"]["medical_qa_zh"] = {
        "from": f"../shared/data/{CHINESE_FILE} (one document a line), from "
                "Toyhom/Chinese-medical-dialogue-data @ 26724a4 (Data_数据/IM_内科), GB18030 "
                f"converted to UTF-8: {CHINESE_SPREAD} lines evenly spread over the file and the "
                f"{CHINESE_LONGEST} longest in tokens",
        "license": "MIT",
        "license_text": (DATA / CHINESE_LICENSE_FILE).read_text(encoding="utf-8").strip(),
        "file_sha256": sha256(DATA / CHINESE_FILE),
        "line_numbers": [number for number, _ in documents],
        "texts": chinese,
        "ids": [ids(text) for text in chinese],
    }
    for name, source in fixture["sources"].items():
        for row, text in enumerate(source["texts"]):
            reference.check_public_api(text, source["ids"][row], [name, row])

    # Packing: the hard strings' cases (texts in tests/fixtures/hard_strings.json) ...
    fixture["packed"] = reference.hard_string_cases(hard_strings())

    def case(text, text_pair, max_length):
        source_texts = {name: source["texts"] for name, source in fixture["sources"].items()}
        result = {"text": text, "text_pair": text_pair, "max_length": max_length}
        result.update(packed(source_texts[text[0]][text[1]],
                             None if text_pair is None else source_texts[text_pair[0]][text_pair[1]],
                             max_length, result))
        fixture["packed"].append(result)

    # ... STS-B pairs and single sentences at several max_length ...
    for i, max_length in enumerate(MAX_LENGTHS):
        for pair in (i, 40 + 3 * i):
            case(["stsb_captions", 2 * pair], ["stsb_captions", 2 * pair + 1], max_length)
        case(["stsb_captions", 200 + i], None, max_length)
    # ... the longest Chinese documents cut at 512, alone and as a pair, and Chinese
    # paired with English.
    tokens = fixture["sources"]["medical_qa_zh"]["ids"]
    longest = sorted(range(len(chinese)), key=lambda row: -len(tokens[row]))
    assert len(tokens[longest[1]]) > 510 and len(tokens[longest[2]]) + len(tokens[longest[3]]) > 509
    for row in longest[:2]:
        case(["medical_qa_zh", row], None, 512)
    case(["medical_qa_zh", longest[2]], ["medical_qa_zh", longest[3]], 512)
    case(["medical_qa_zh", longest[0]], ["stsb_captions", 0], 512)
    case(["stsb_captions", 1], ["medical_qa_zh", longest[1]], 512)
    for i, max_length in enumerate((16, 64, 128, 256)):
        case(["medical_qa_zh", 10 * i], ["stsb_captions", 7 * i], max_length)
        case(["stsb_captions", 7 * i + 1], ["medical_qa_zh", 10 * i + 5], max_length)

    fixture["public_api_differences"] = reference.public_api_differences
    write(SAMPLE_OUTPUT, fixture, ensure_ascii=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sample", action="store_true", help=f"only {SAMPLE_OUTPUT.name}")
    which.add_argument("--reference", action="store_true", help=f"only {OUTPUT.name}")
    args = parser.parse_args(argv)
    transformers.logging.set_verbosity_error()  # "overflowing tokens are not returned", per pair
    if not args.reference and not DATA.is_dir():
        parser.error(f"the sample needs the benchmark datasets at {DATA}")
    if not args.sample:
        make_reference()
    if not args.reference:
        make_sample()


if __name__ == "__main__":
    main()
