"""Loading real checkpoints: parity with Hugging Face, Google format, bad checkpoints."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from conftest import FIXTURES, TINY_CONFIG
from tfbert import BertEncoder
from tfbert.models.checkpoint import CheckpointMismatchError
from tfbert.models.pretrained import resolve_checkpoint_dir


@pytest.fixture(scope="module")
def reference():
    return dict(np.load(FIXTURES / "encoder_reference.npz"))


def encoder_inputs(reference):
    return {name: reference[name] for name in ("input_ids", "segment_ids", "input_mask")}


def test_matches_hugging_face_float32(minilm_encoder, reference):
    """Padded batch of 6 SST-2 sentences and 4 MRPC pairs, 10 to 74 tokens."""
    assert len(reference["input_mask"]) >= 8
    assert len(set(reference["input_mask"].sum(1))) >= 8  # lengths differ
    outputs = minilm_encoder(encoder_inputs(reference))
    real = reference["input_mask"].astype(bool)
    sequence = np.asarray(outputs["sequence_output"])[real]
    np.testing.assert_allclose(sequence, reference["sequence_output"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(outputs["pooled_output"], reference["pooled_output"], rtol=0, atol=1e-4)


def test_tokenizer_and_encoder_agree_with_reference_ids(minilm_dir, reference):
    from tfbert import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    texts_a, texts_b = list(reference["texts_a"]), list(reference["texts_b"])
    singles = [i for i, b in enumerate(texts_b) if not b]
    pairs = [i for i, b in enumerate(texts_b) if b]
    single = tokenizer([texts_a[i] for i in singles])
    pair = tokenizer([texts_a[i] for i in pairs], [texts_b[i] for i in pairs])
    for rows, packed in ((singles, single), (pairs, pair)):
        for out_row, row in enumerate(rows):
            length = int(reference["input_mask"][row].sum())
            for name in ("input_ids", "segment_ids"):
                np.testing.assert_array_equal(
                    np.asarray(packed[name])[out_row, :length], reference[name][row, :length]
                )


def test_padding_invariance_real_checkpoint(minilm_encoder, reference):
    inputs = encoder_inputs(reference)
    padded = {name: np.pad(value, [(0, 0), (0, 30)]) for name, value in inputs.items()}
    real = reference["input_mask"].astype(bool)
    short = minilm_encoder(inputs)
    long = minilm_encoder(padded)
    np.testing.assert_allclose(
        np.asarray(long["sequence_output"])[:, : real.shape[1]][real],
        np.asarray(short["sequence_output"])[real], rtol=0, atol=1e-5,
    )
    np.testing.assert_allclose(long["pooled_output"], short["pooled_output"], rtol=0, atol=1e-5)


# Measured on the fixture batch: mean |error| 0.004, max 0.05, pooled max 0.0035,
# cosine >= 0.9996. The stated tolerances leave about 2x headroom.
BF16_MEAN_TOLERANCE = 0.01
BF16_MAX_TOLERANCE = 0.15
BF16_POOLED_TOLERANCE = 0.01


def test_bfloat16_within_stated_tolerance(reference):
    """bf16 keeps 8 bits of mantissa; the tolerance is stated on the real model."""
    mixed = BertEncoder.from_pretrained("all-minilm-l6-v2", dtype="mixed_bfloat16")
    outputs = mixed(encoder_inputs(reference))
    real = reference["input_mask"].astype(bool)
    sequence = np.asarray(tf.cast(outputs["sequence_output"], tf.float32))[real]
    pooled = np.asarray(tf.cast(outputs["pooled_output"], tf.float32))
    error = np.abs(sequence - reference["sequence_output"])
    assert error.mean() < BF16_MEAN_TOLERANCE, error.mean()
    assert error.max() < BF16_MAX_TOLERANCE, error.max()
    assert np.abs(pooled - reference["pooled_output"]).max() < BF16_POOLED_TOLERANCE
    cosine = np.sum(sequence * reference["sequence_output"], -1) / (
        np.linalg.norm(sequence, axis=-1) * np.linalg.norm(reference["sequence_output"], axis=-1)
    )
    assert cosine.min() > 0.999, cosine.min()


# ------------------------------------------------------------------ Google format

def to_google_name(hf_name):
    """Google BERT's variable names, written out independently of tfbert's loader."""
    parts = hf_name.split(".")
    if parts[0] == "embeddings" and parts[1] != "LayerNorm":
        return f"bert/embeddings/{parts[1]}"
    if parts[0] == "encoder":
        parts = ["encoder", f"layer_{parts[2]}"] + parts[3:]
    last = parts[-1]
    if "LayerNorm" in parts:
        last = {"weight": "gamma", "bias": "beta"}[last]
    elif last == "weight":
        last = "kernel"
    return "bert/" + "/".join(parts[:-1] + [last])


def write_google_checkpoint(hf_dir, out_dir, drop=(), extra=None):
    out_dir.mkdir()
    config = json.loads((hf_dir / "config.json").read_text())
    google_config = {k: config[k] for k in (
        "attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
        "initializer_range", "intermediate_size", "max_position_embeddings",
        "num_attention_heads", "num_hidden_layers", "type_vocab_size", "vocab_size")}
    (out_dir / "bert_config.json").write_text(json.dumps(google_config))
    shutil.copy(hf_dir / "vocab.txt", out_dir / "vocab.txt")
    names, tensors = [], []
    for name, value in load_file(hf_dir / "model.safetensors").items():
        if name.endswith("position_ids") or name in drop:
            continue
        google = to_google_name(name)
        if google.endswith("/kernel"):
            value = value.T  # torch Linear [out, in] -> TF [in, out]
        names.append(google)
        tensors.append(tf.constant(value))
    for name, value in (extra or {}).items():
        names.append(name)
        tensors.append(tf.constant(value))
    tf.raw_ops.SaveV2(
        prefix=str(out_dir / "bert_model.ckpt"), tensor_names=names,
        shape_and_slices=[""] * len(names), tensors=tensors,
    )
    return out_dir


def test_google_checkpoint_loads_to_same_outputs(minilm_dir, reference, tmp_path):
    google_dir = write_google_checkpoint(
        minilm_dir, tmp_path / "google",
        # What real Google checkpoints also carry: pretraining heads and optimizer state.
        extra={
            "cls/predictions/output_bias": np.zeros(30522, np.float32),
            "bert/pooler/dense/kernel/adam_m": np.zeros((384, 384), np.float32),
            "global_step": np.array(1000, np.int64),
        },
    )
    encoder = BertEncoder.from_pretrained(google_dir)
    outputs = encoder(encoder_inputs(reference))
    real = reference["input_mask"].astype(bool)
    np.testing.assert_allclose(
        np.asarray(outputs["sequence_output"])[real], reference["sequence_output"], atol=1e-4
    )


def test_google_checkpoint_missing_weights_all_named(minilm_dir, tmp_path):
    google_dir = write_google_checkpoint(
        minilm_dir, tmp_path / "google",
        drop={"encoder.layer.2.attention.self.key.weight", "pooler.dense.bias"},
    )
    with pytest.raises(CheckpointMismatchError) as error:
        BertEncoder.from_pretrained(google_dir)
    message = str(error.value)
    assert "missing (2)" in message
    assert "bert/encoder/layer_2/attention/self/key/kernel" in message
    assert "bert/pooler/dense/bias" in message


# ------------------------------------------------------------- bad HF checkpoints

def copy_hf_dir(minilm_dir, tmp_path, edit_weights=None, edit_config=None):
    out = tmp_path / "hf"
    out.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        shutil.copy(minilm_dir / name, out / name)
    weights = load_file(minilm_dir / "model.safetensors")
    if edit_weights:
        edit_weights(weights)
    save_file(weights, out / "model.safetensors")
    if edit_config:
        config = json.loads((out / "config.json").read_text())
        edit_config(config)
        (out / "config.json").write_text(json.dumps(config))
    return out


def test_every_problem_reported_at_once_and_nothing_loaded(minilm_dir, tmp_path):
    def edit(weights):
        del weights["encoder.layer.0.intermediate.dense.bias"]
        del weights["embeddings.LayerNorm.weight"]
        weights["encoder.layer.1.output.dense.weight"] = np.zeros((384, 100), np.float32)
        weights["encoder.layer.9.output.dense.weight"] = np.zeros((4, 4), np.float32)

    bad_dir = copy_hf_dir(minilm_dir, tmp_path, edit_weights=edit)
    encoder = BertEncoder.from_bert_config(
        __import__("tfbert").BertConfig.from_json_file(bad_dir / "config.json")
    )
    before = [w.copy() for w in encoder.get_weights()]
    from tfbert.models.checkpoint import assign_checkpoint_weights, read_checkpoint

    with pytest.raises(CheckpointMismatchError) as error:
        assign_checkpoint_weights(encoder, read_checkpoint(bad_dir))
    message = str(error.value)
    assert "missing (2)" in message and "encoder.layer.0.intermediate.dense.bias" in message
    assert "embeddings.LayerNorm.weight" in message
    assert "wrong shape (1)" in message
    assert "encoder.layer.1.output.dense.weight: checkpoint (100, 384), model expects (1536, 384)" in message
    assert "unexpected (1)" in message and "encoder.layer.9.output.dense.weight" in message
    assert "Nothing was loaded" in message
    for old, new in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_bert_prefix_and_task_heads_are_accepted(minilm_dir, reference, tmp_path):
    """BertForSequenceClassification checkpoints: `bert.` prefix and a classifier."""
    def edit(weights):
        for name in list(weights):
            weights["bert." + name] = weights.pop(name)
        weights["classifier.weight"] = np.zeros((2, 384), np.float32)
        weights["classifier.bias"] = np.zeros(2, np.float32)

    encoder = BertEncoder.from_pretrained(copy_hf_dir(minilm_dir, tmp_path, edit_weights=edit))
    np.testing.assert_allclose(
        encoder(encoder_inputs(reference))["pooled_output"], reference["pooled_output"], atol=1e-4
    )


def test_config_that_does_not_fit_weights(minilm_dir, tmp_path):
    bad_dir = copy_hf_dir(
        minilm_dir, tmp_path, edit_config=lambda c: c.update(num_hidden_layers=7)
    )
    with pytest.raises(CheckpointMismatchError, match=r"missing \(16\)"):
        BertEncoder.from_pretrained(bad_dir)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_safetensors_load(minilm_dir, tmp_path, dtype):
    """A float16 / bfloat16 file loads, and computes exactly as the float32 weights
    rounded to that type and back do."""
    import ml_dtypes

    half = getattr(ml_dtypes, dtype, None) if dtype == "bfloat16" else np.float16

    def to_half(weights):
        for name in weights:
            weights[name] = weights[name].astype(half)

    half_dir = copy_hf_dir(minilm_dir, tmp_path, edit_weights=to_half)
    assert {v.dtype.name for v in load_file(half_dir / "model.safetensors").values()} == {dtype}
    loaded = BertEncoder.from_pretrained(half_dir)
    rounded = BertEncoder.from_pretrained(minilm_dir)
    for variable in rounded.weights:
        variable.assign(np.asarray(variable.numpy()).astype(half).astype(np.float32))
    assert [w.dtype for w in loaded.get_weights()] == [np.float32] * len(loaded.weights)
    for got, want in zip(loaded.get_weights(), rounded.get_weights()):
        np.testing.assert_array_equal(got, want)
    inputs = {"input_ids": np.array([[101, 7592, 2088, 102, 0]]), "segment_ids": np.zeros((1, 5), "int32"),
              "input_mask": np.array([[1, 1, 1, 1, 0]])}
    np.testing.assert_array_equal(loaded(inputs)["sequence_output"], rounded(inputs)["sequence_output"])


@pytest.mark.parametrize("weights_file", ["pytorch_model.bin", "tf_model.h5"])
def test_no_safetensors_is_explained(tmp_path, minilm_dir, weights_file):
    out = tmp_path / "no_safetensors"
    out.mkdir()
    shutil.copy(minilm_dir / "config.json", out / "config.json")
    (out / weights_file).write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=f"found {weights_file}: convert it"):
        BertEncoder.from_pretrained(out)


def test_not_a_checkpoint_dir(tmp_path):
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        BertEncoder.from_pretrained(tmp_path)


def test_unknown_short_name():
    with pytest.raises(FileNotFoundError, match="not a known short name.*all-minilm-l6-v2"):
        BertEncoder.from_pretrained("bert-base-nope")


def test_short_name_checks_sha256(minilm_dir, monkeypatch):
    from tfbert.models import pretrained

    entry = pretrained.PACKAGED_CHECKPOINTS["all-minilm-l6-v2"]
    monkeypatch.setitem(
        pretrained.PACKAGED_CHECKPOINTS, "all-minilm-l6-v2",
        pretrained.PackagedCheckpoint(entry.package, entry.install_hint, entry.weights_file, "0" * 64),
    )
    monkeypatch.setattr(pretrained, "_verified", set())
    with pytest.raises(ValueError, match="Checksum mismatch.*model.safetensors"):
        resolve_checkpoint_dir("all-minilm-l6-v2")


def weight(model, path):
    """A model's weight by its Keras path, as a numpy array."""
    found = {variable.path: variable for variable in model.weights}
    assert path in found, f"no weight {path}; the model has {sorted(found)}"
    return np.asarray(found[path])


def test_tiny_random_round_trip_through_safetensors(tmp_path):
    """A checkpoint tfbert did not come from: HF names written by hand for a tiny config."""
    rng = np.random.default_rng(0)
    c = TINY_CONFIG
    h, i = c["hidden_size"], c["intermediate_size"]
    weights = {
        "embeddings.word_embeddings.weight": rng.normal(size=(c["vocab_size"], h)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, h)),
        "embeddings.position_embeddings.weight": rng.normal(size=(c["max_position_embeddings"], h)),
        "embeddings.LayerNorm.gamma": rng.normal(size=h),  # old HF spelling
        "embeddings.LayerNorm.beta": rng.normal(size=h),
        "pooler.dense.weight": rng.normal(size=(h, h)),
        "pooler.dense.bias": rng.normal(size=h),
    }
    for layer in range(c["num_layers"]):
        p = f"encoder.layer.{layer}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            weights[p + name + ".weight"] = rng.normal(size=(h, h))
            weights[p + name + ".bias"] = rng.normal(size=h)
        weights[p + "intermediate.dense.weight"] = rng.normal(size=(i, h))
        weights[p + "intermediate.dense.bias"] = rng.normal(size=i)
        weights[p + "output.dense.weight"] = rng.normal(size=(h, i))
        weights[p + "output.dense.bias"] = rng.normal(size=h)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + norm + ".weight"] = rng.normal(size=h)
            weights[p + norm + ".bias"] = rng.normal(size=h)
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    out = tmp_path / "tiny"
    out.mkdir()
    save_file(weights, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps({
        "vocab_size": c["vocab_size"], "hidden_size": h, "num_hidden_layers": c["num_layers"],
        "num_attention_heads": c["num_heads"], "intermediate_size": i,
        "max_position_embeddings": c["max_position_embeddings"], "model_type": "bert",
    }))
    encoder = BertEncoder.from_pretrained(out)
    kernel = weight(encoder, "transformer_block_1/attention/query_key_value/kernel")
    np.testing.assert_array_equal(kernel[:, h:2 * h], weights["encoder.layer.1.attention.self.key.weight"].T)
    np.testing.assert_array_equal(
        weight(encoder, "transformer_block_1/intermediate_dense/kernel"),
        weights["encoder.layer.1.intermediate.dense.weight"].T,
    )
    np.testing.assert_array_equal(
        weight(encoder, "embeddings/layer_norm/gamma"), weights["embeddings.LayerNorm.gamma"]
    )
    np.testing.assert_array_equal(
        weight(encoder, "embeddings/position_embedding"), weights["embeddings.position_embeddings.weight"]
    )
