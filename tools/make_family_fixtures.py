"""Writes tests/fixtures/families/<family>/: a small random checkpoint of each encoder
family, made and run by Hugging Face transformers on PyTorch, and its outputs.

No machine here reaches a model hub, so parity is proved the way transformers' own
tests do it: a tiny model with random weights (spread wide, so that different texts
get clearly different outputs), saved with `save_pretrained` (safetensors), and its
outputs on a few texts in float32. tfbert's tests load the directory and compare,
with no torch. This script is the only place that runs torch.

    python -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 transformers safetensors numpy
    /tmp/torchvenv/bin/python tools/make_family_fixtures.py

Per family: the checkpoint (config.json, model.safetensors, vocab.txt,
tokenizer_config.json) and reference.npz (input_ids, attention_mask, token_type_ids
where the family has them, last_hidden_state, and the masked-LM logits where the
family has a masked-LM head).
"""

import pathlib

import numpy as np
import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "families"

WORDS = ("good great fine bad awful poor movie film plot the was is very not a flight fare "
         "weather ##s ##ing un ##like , .").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEXTS = ["good movie", "the plot was very bad .", "not a fine film , unlike the fare",
         "weather", "the flight was awful , the fare was poor , the film was great ."]
PAIRS = [("good movie", "bad film"), ("the flight", "was fine .")]


def spread(model, seed, scale=0.3):
    """Adds seeded noise of stddev `scale` to every parameter."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return model


def encode(tokenizer, texts, pairs):
    rows = [tokenizer(a)["input_ids"] for a in texts]
    rows += [tokenizer(a, b)["input_ids"] for a, b in pairs]
    length = max(len(row) for row in rows)
    input_ids = np.zeros((len(rows), length), np.int64)
    mask = np.zeros_like(input_ids)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)], mask[i, :len(row)] = row, 1
    return input_ids, mask


def distilbert(directory):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=len(VOCAB), dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                              max_position_embeddings=64, activation="gelu", pad_token_id=0)
    model = spread(DistilBertForMaskedLM(config), seed=0).eval()
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token in VOCAB), encoding="utf-8")
    tokenizer = transformers.DistilBertTokenizer(str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(directory)
    input_ids, mask = encode(tokenizer, TEXTS, PAIRS)
    with torch.no_grad():
        hidden = model.distilbert(input_ids=torch.tensor(input_ids),
                                  attention_mask=torch.tensor(mask)).last_hidden_state
        logits = model(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(mask)).logits
    return {"input_ids": input_ids, "attention_mask": mask,
            "last_hidden_state": hidden.numpy(), "masked_lm_logits": logits.numpy()}


def electra(directory):
    """A discriminator whose embeddings (16 wide) are narrower than its blocks (32)."""
    from transformers import ElectraConfig, ElectraForPreTraining

    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=len(VOCAB), embedding_size=16, hidden_size=32,
                           num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                           max_position_embeddings=64, type_vocab_size=2, pad_token_id=0)
    model = spread(ElectraForPreTraining(config), seed=1).eval()
    model.save_pretrained(directory, safe_serialization=True)
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token in VOCAB), encoding="utf-8")
    tokenizer = transformers.ElectraTokenizer(str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(directory)
    rows = [tokenizer(a) for a in TEXTS] + [tokenizer(a, b) for a, b in PAIRS]
    length = max(len(row["input_ids"]) for row in rows)
    arrays = {name: np.zeros((len(rows), length), np.int64)
              for name in ("input_ids", "token_type_ids", "attention_mask")}
    for i, row in enumerate(rows):
        for name, array in arrays.items():
            array[i, :len(row[name])] = row[name]
    with torch.no_grad():
        hidden = model.electra(**{k: torch.tensor(v) for k, v in arrays.items()}).last_hidden_state
    return {**arrays, "last_hidden_state": hidden.numpy()}


FAMILIES = {"distilbert": distilbert, "electra": electra}


def main():
    for name, make in FAMILIES.items():
        directory = OUT / name
        directory.mkdir(parents=True, exist_ok=True)
        reference = make(directory)
        np.savez_compressed(directory / "reference.npz", **reference)
        print(f"{directory}: {', '.join(sorted(p.name for p in directory.iterdir()))}")
        print(f"  transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
