"""Reading pretrained BERT checkpoints and loading them into a `BertEncoder`.

Two layouts on disk:
- Hugging Face: `config.json` + `model.safetensors` (or sharded with
  `model.safetensors.index.json`), float32, float16 or bfloat16. Read with
  safetensors into numpy; no torch.
- Google BERT: `bert_config.json` + `bert_model.ckpt.{index,data-*}`. Read with
  `tf.train.load_checkpoint`.

Both are translated to one canonical naming, the Hugging Face names without the
`bert.` prefix, with every dense kernel laid out [in, out] as Keras expects
(PyTorch's Linear stores [out, in]). The encoder's variables are then matched to
canonical names in `encoder_weight_names`. Everything is checked before anything is
assigned, so a checkpoint that does not fit leaves the model untouched and says
every name that is wrong.
"""

import dataclasses
import json
import logging
import pathlib
import re

import numpy as np

from tfbert.models.config import FAMILIES, BertConfig

logger = logging.getLogger(__name__)

# Weights a BERT checkpoint may carry beyond the encoder: pretraining and task heads,
# optimizer state, buffers. They are skipped with a log line, not an error.
_NOT_ENCODER_WEIGHTS = re.compile(
    r"^(cls\.|classifier\.|pre_classifier\.|qa_outputs\.|discriminator_predictions\.|"
    r"global_step$|output_weights$|output_bias$)"
    r"|(^|\.)position_ids$|adam_[mv]$"
)

_GOOGLE_EMBEDDING_TABLES = ("word_embeddings", "token_type_embeddings", "position_embeddings")


@dataclasses.dataclass
class Checkpoint:
    """Weights of one checkpoint, under canonical names."""

    config: BertConfig
    weights: dict  # canonical name -> np.ndarray
    original_names: dict  # canonical name -> name as stored in the file
    path: str  # the file(s) the weights came from, for messages
    to_original_name: callable  # canonical -> stored spelling, to name missing weights


# ---------------------------------------------------------------- reading files


def read_checkpoint(directory):
    """Reads config and weights from a Hugging Face or Google BERT directory."""
    directory = pathlib.Path(directory)
    if (directory / "config.json").exists():
        return _read_hugging_face(directory)
    if (directory / "bert_config.json").exists():
        return _read_google(directory)
    found = sorted(p.name for p in directory.iterdir())
    listing = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
    raise FileNotFoundError(
        f"{directory} holds neither config.json (Hugging Face) nor bert_config.json "
        f"(Google BERT); found: {listing or 'nothing'}."
    )


def _read_hugging_face(directory):
    from safetensors import safe_open

    config = BertConfig.from_json_file(directory / "config.json")
    index_file = directory / "model.safetensors.index.json"
    if (directory / "model.safetensors").exists():
        files = [directory / "model.safetensors"]
    elif index_file.exists():
        weight_map = json.loads(index_file.read_text())["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    else:
        others = [p.name for p in directory.glob("*") if p.suffix in (".bin", ".h5", ".pt")]
        raise FileNotFoundError(
            f"{directory}: no model.safetensors. tfbert reads safetensors only (it does "
            "not import torch)"
            + (f"; found {', '.join(others)}: convert it with "
               "transformers' `model.save_pretrained(dir, safe_serialization=True)`."
               if others else ".")
        )

    stored = {}
    for path in files:
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():
                stored[name] = _as_float32(f.get_tensor(name))

    family = FAMILIES.get(config.model_type)
    family_prefix = family.PREFIX if family else "bert."
    prefix = family_prefix if any(name.startswith(family_prefix) for name in stored) else ""
    weights, original_names = {}, {}
    for name, value in stored.items():
        canonical = name[len(prefix):] if name.startswith(prefix) else name
        if family:
            canonical = family.canonical_name(canonical)
        canonical = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", canonical)
        canonical = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", canonical)
        if value.ndim == 2 and not canonical.startswith("embeddings."):
            value = value.T  # torch.nn.Linear stores [out, in]
        weights[canonical] = value
        original_names[canonical] = name
    return Checkpoint(
        config=config,
        weights=weights,
        original_names=original_names,
        path=", ".join(str(p) for p in files),
        to_original_name=lambda canonical: prefix + (
            family.stored_name(canonical) if family else canonical),
    )


def _as_float32(value):
    """float16 and bfloat16 checkpoints (half the size, common on the Hub) load into
    float32 variables: the cast is exact, so a model computes as it would from the
    float32 weights rounded the same way. safetensors reads bfloat16 into numpy with
    ml_dtypes, which TensorFlow installs."""
    if value.dtype.name in ("float16", "bfloat16", "float64"):
        return value.astype(np.float32)
    return value


def _google_to_canonical(name):
    # bert/encoder/layer_3/attention/self/query/kernel
    #   -> encoder.layer.3.attention.self.query.weight
    name = name[len("bert/"):] if name.startswith("bert/") else name
    name = re.sub(r"layer_(\d+)", r"layer.\1", name).replace("/", ".")
    name = re.sub(r"\.(kernel|gamma)$", ".weight", name)
    name = re.sub(r"\.beta$", ".bias", name)
    if name in tuple(f"embeddings.{table}" for table in _GOOGLE_EMBEDDING_TABLES):
        name += ".weight"
    return name


def _canonical_to_google(name):
    is_layer_norm = ".LayerNorm." in name
    name = re.sub(r"layer\.(\d+)", r"layer_\1", name).replace(".", "/")
    if name.startswith("embeddings/") and name.split("/")[1] in _GOOGLE_EMBEDDING_TABLES:
        return "bert/" + name[: -len("/weight")]
    if is_layer_norm:
        name = re.sub(r"/weight$", "/gamma", name)
        name = re.sub(r"/bias$", "/beta", name)
    else:
        name = re.sub(r"/weight$", "/kernel", name)
    return "bert/" + name


def _read_google(directory):
    import tensorflow as tf

    config = BertConfig.from_json_file(directory / "bert_config.json")
    indexes = sorted(directory.glob("*.ckpt*.index")) or sorted(directory.glob("*.index"))
    if not indexes:
        raise FileNotFoundError(
            f"{directory}: bert_config.json found but no TensorFlow checkpoint "
            "(bert_model.ckpt.index and bert_model.ckpt.data-*)."
        )
    if len(indexes) > 1 and not (directory / "bert_model.ckpt.index").exists():
        raise ValueError(
            f"{directory}: several checkpoints ({', '.join(p.name for p in indexes)}); "
            "keep one, or name it bert_model.ckpt."
        )
    prefix = directory / "bert_model.ckpt"
    if not (directory / "bert_model.ckpt.index").exists():
        prefix = indexes[0].with_suffix("")
    reader = tf.train.load_checkpoint(str(prefix))
    weights, original_names = {}, {}
    for name in reader.get_variable_to_shape_map():
        canonical = _google_to_canonical(name)
        weights[canonical] = reader.get_tensor(name)
        original_names[canonical] = name
    return Checkpoint(
        config=config,
        weights=weights,
        original_names=original_names,
        path=str(prefix),
        to_original_name=_canonical_to_google,
    )


# ------------------------------------------------------------- into the encoder


def encoder_weight_names(encoder):
    """Pairs each variable of a BertEncoder with the canonical name(s) it is made of.

    Returns a list of (variable, [canonical names]). Several names are concatenated
    along the last axis: that is how the fused query/key/value projection is built
    from a checkpoint's three separate ones.
    """
    embeddings = encoder.get_layer("embeddings")
    pairs = [
        (embeddings.token_embedding.embeddings, ["embeddings.word_embeddings.weight"]),
        (embeddings.position_embedding, ["embeddings.position_embeddings.weight"]),
        (embeddings.layer_norm.gamma, ["embeddings.LayerNorm.weight"]),
        (embeddings.layer_norm.beta, ["embeddings.LayerNorm.bias"]),
    ]
    if embeddings.segment_embedding is not None:  # none in DistilBERT
        pairs.insert(1, (embeddings.segment_embedding.embeddings,
                         ["embeddings.token_type_embeddings.weight"]))
    config = encoder.bert_config
    if config.embedding_width != config.hidden_size:  # ELECTRA's projection
        projection = encoder.get_layer("embedding_projection")
        pairs += [(projection.kernel, ["embeddings_project.weight"]),
                  (projection.bias, ["embeddings_project.bias"])]
    for i, block in enumerate(encoder.transformer_blocks):
        layer = f"encoder.layer.{i}"
        qkv = [f"{layer}.attention.self.{part}" for part in ("query", "key", "value")]
        pairs += [
            (block.attention.query_key_value.kernel, [f"{n}.weight" for n in qkv]),
            (block.attention.query_key_value.bias, [f"{n}.bias" for n in qkv]),
            (block.attention.output_dense.kernel, [f"{layer}.attention.output.dense.weight"]),
            (block.attention.output_dense.bias, [f"{layer}.attention.output.dense.bias"]),
            (block.attention_layer_norm.gamma, [f"{layer}.attention.output.LayerNorm.weight"]),
            (block.attention_layer_norm.beta, [f"{layer}.attention.output.LayerNorm.bias"]),
            (block.intermediate_dense.kernel, [f"{layer}.intermediate.dense.weight"]),
            (block.intermediate_dense.bias, [f"{layer}.intermediate.dense.bias"]),
            (block.output_dense.kernel, [f"{layer}.output.dense.weight"]),
            (block.output_dense.bias, [f"{layer}.output.dense.bias"]),
            (block.output_layer_norm.gamma, [f"{layer}.output.LayerNorm.weight"]),
            (block.output_layer_norm.beta, [f"{layer}.output.LayerNorm.bias"]),
        ]
    family = FAMILIES.get(config.model_type)
    if family is None or family.HAS_POOLER:  # DistilBERT and ELECTRA have none
        pooler = encoder.get_layer("pooler")
        pairs += [
            (pooler.kernel, ["pooler.dense.weight"]),
            (pooler.bias, ["pooler.dense.bias"]),
        ]
    return pairs


class CheckpointMismatchError(ValueError):
    """The checkpoint's weights do not fit the model; lists every offending name."""


def assign_checkpoint_weights(encoder, checkpoint):
    """Checks every weight, then assigns them all; raises before assigning any."""
    missing, misshapen, values = [], [], []
    used = set()
    for variable, names in encoder_weight_names(encoder):
        parts = []
        # Each part carries an equal share of the variable's last axis.
        part_shape = tuple(variable.shape[:-1]) + (variable.shape[-1] // len(names),)
        for name in names:
            if name not in checkpoint.weights:
                missing.append(checkpoint.to_original_name(name))
                continue
            used.add(name)
            value = checkpoint.weights[name]
            if tuple(value.shape) != part_shape:
                misshapen.append(
                    f"{checkpoint.original_names[name]}: checkpoint {tuple(value.shape)}, "
                    f"model expects {part_shape}"
                )
            parts.append(value)
        if len(parts) == len(names):
            values.append((variable, parts))

    leftover = sorted(set(checkpoint.weights) - used)
    skipped = [n for n in leftover if _NOT_ENCODER_WEIGHTS.search(n)]
    unexpected = [checkpoint.original_names[n] for n in leftover if n not in skipped]

    if missing or misshapen or unexpected:
        lines = [f"Checkpoint {checkpoint.path} does not fit the encoder built from its config:"]
        for title, names in (
            ("missing", missing), ("wrong shape", misshapen), ("unexpected", unexpected)
        ):
            if names:
                lines.append(f"  {title} ({len(names)}):")
                lines += [f"    {name}" for name in names]
        lines.append("Nothing was loaded.")
        raise CheckpointMismatchError("\n".join(lines))

    if skipped:
        logger.info(
            "Skipped %d non-encoder weights of %s: %s",
            len(skipped), checkpoint.path,
            ", ".join(checkpoint.original_names[n] for n in skipped),
        )
    for variable, parts in values:
        value = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        variable.assign(value.astype(variable.dtype))
