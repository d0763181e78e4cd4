"""Writing a trained encoder (and its pretraining heads) as a Hugging Face directory.

    config.json            the architecture under Hugging Face's names
    vocab.txt              the tokenizer's vocabulary (extended vocabularies included)
    tokenizer_config.json  lowercasing, accents, special tokens
    model.safetensors      float32 weights under Hugging Face's names: "bert.*" for the
                           encoder, "cls.*" for the masked-LM / next-sentence heads

`transformers.BertModel`, `BertForMaskedLM` and `BertForPreTraining` load it as it
is, and so does a recipe's `checkpoint =`. The names are the inverse of
`tfbert.models.checkpoint.encoder_weight_names`: the fused query/key/value kernel is split
back into three, and dense kernels go back to PyTorch's [out, in].
"""

import json
import pathlib
import shutil
import tempfile

import numpy as np

from tfbert.models.checkpoint import encoder_weight_names
from tfbert.models.config import FAMILIES

WEIGHTS_FILE = "model.safetensors"


def stored_name(config, canonical):
    """An encoder weight's canonical name as its family stores it: "bert.*", or the
    family's prefix and names ("distilbert.transformer.layer.0...")."""
    family = FAMILIES.get(config.model_type)
    if family:
        return family.PREFIX + family.stored_name(canonical)
    return "bert." + canonical


def stored_head_name(config, name):
    """A head weight's name ("cls.*", as `head_state` gives them) as the family stores
    it: BERT's as they are, DistilBERT's masked-LM head as vocab_transform, ..."""
    family = FAMILIES.get(config.model_type)
    if family is None:
        return name
    if name.startswith("cls.seq_relationship."):
        raise ValueError(f"{config.model_type} has no next-sentence head: pretrain a "
                         f"{config.model_type} encoder with next_sentence = false.")
    stored = family.stored_name(name)
    if stored == name:  # a head the family's checkpoints have no names for
        raise ValueError(f"{config.model_type} checkpoints have no weight {name!r}: its heads "
                         "cannot be written in that layout.")
    return stored


def encoder_state(encoder):
    """{Hugging Face name: float32 numpy array} of every encoder weight."""
    state = {}
    for variable, names in encoder_weight_names(encoder):
        value = np.asarray(variable.numpy(), np.float32)
        parts = np.split(value, len(names), axis=-1) if len(names) > 1 else [value]
        for name, part in zip(names, parts):
            if part.ndim == 2 and not name.startswith("embeddings."):
                part = part.T  # Keras [in, out] -> torch.nn.Linear's [out, in]
            state[stored_name(encoder.bert_config, name)] = np.ascontiguousarray(part)
    return state


def save_hugging_face(directory, encoder, tokenizer, head_weights=None, architecture="BertModel",
                      overwrite=False):
    """Writes `encoder` (+ `head_weights`, Hugging Face name -> array) to `directory`.

    architecture: what config.json's "architectures" names (BertForPreTraining when
    both heads are there, BertForMaskedLM with the MLM head only).
    The directory is written beside its place and renamed into it, so a reader never
    sees half a checkpoint; an existing directory is an error unless `overwrite`.
    """
    from safetensors.numpy import save_file

    directory = pathlib.Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} already exists; choose another directory, or "
                              "pass overwrite=True (--overwrite) to replace it.")
    state = encoder_state(encoder)
    for name, value in (head_weights or {}).items():
        name = stored_head_name(encoder.bert_config, name)
        if name in state:
            raise ValueError(f"head weight {name!r} would overwrite an encoder weight.")
        state[name] = np.ascontiguousarray(np.asarray(value, np.float32))
    vocabulary = tokenizer.vocabulary
    config = encoder.bert_config
    if len(vocabulary) != config.vocab_size:
        raise ValueError(f"the tokenizer has {len(vocabulary)} tokens but the encoder's "
                         f"vocab_size is {config.vocab_size}; they must match.")

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        family = FAMILIES.get(config.model_type)
        if family:  # BertModel -> DistilBertModel, ...
            architecture = family.architecture(architecture)
        hugging_face = {"architectures": [architecture], **config.to_hugging_face_dict(),
                        "initializer_range": encoder.initializer_range,
                        "pad_token_id": tokenizer.pad_id}
        (staging / "config.json").write_text(json.dumps(hugging_face, indent=2) + "\n")
        (staging / "vocab.txt").write_text("".join(f"{token}\n" for token in vocabulary),
                                           encoding="utf-8")
        (staging / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": family.TOKENIZER_CLASS if family else "BertTokenizer",
            "do_lower_case": tokenizer.lowercase,
            "strip_accents": tokenizer.strip_accents, "tokenize_chinese_chars": True,
            "model_max_length": config.max_position_embeddings,
            "unk_token": tokenizer.unk_token, "sep_token": tokenizer.sep_token,
            "pad_token": tokenizer.pad_token, "cls_token": tokenizer.cls_token,
            "mask_token": "[MASK]"}, indent=2) + "\n")
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory
