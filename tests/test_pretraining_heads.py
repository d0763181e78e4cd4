"""BERT's masked-LM and next-sentence heads: shapes, the tied decoder, saving, and
loading their weights from Hugging Face and Google checkpoints."""

import numpy as np
import pytest
import tensorflow as tf

from tfbert.models.checkpoint import read_checkpoint
from tfbert.models.checkpoint_writer import save_hugging_face
from tfbert.layers.pretraining_heads import (MaskedLMHead, NextSentenceHead, head_state,
                                             load_head_weights)
from tiny_models import VOCAB, tiny


def heads(seed=0):
    tf.keras.utils.set_random_seed(seed)
    masked_lm, next_sentence = MaskedLMHead(len(VOCAB), 32), NextSentenceHead()
    masked_lm.build((None, 32))
    next_sentence.build((None, 32))
    rng = np.random.default_rng(seed)
    for variable in masked_lm.weights + next_sentence.weights:
        variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    return masked_lm, next_sentence


def word_embeddings(encoder):
    return encoder.get_layer("embeddings").token_embedding.embeddings


def test_masked_lm_logits_are_the_transformed_vector_times_the_embedding_table():
    encoder, _ = tiny()
    masked_lm, _ = heads()
    hidden = np.random.default_rng(1).normal(size=[3, 5, 32]).astype("float32")
    logits = masked_lm(hidden, word_embeddings(encoder))
    assert logits.shape == (3, 5, len(VOCAB))
    x = masked_lm.transform(hidden)
    x = 0.5 * x * (1 + tf.math.erf(x / np.sqrt(2.0)))  # BERT's exact GELU
    x = masked_lm.layer_norm(x)
    expected = x @ tf.transpose(word_embeddings(encoder)) + masked_lm.bias
    np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_masked_lm_under_mixed_bfloat16_gives_float32_logits_close_to_float32():
    # The bias is a float32 weight added to float32 logits: an autocast bias (bf16)
    # could not be added to them at all (a pretraining run with training.mixed_precision
    # = "bf16" stopped there).
    encoder, _ = tiny()
    masked_lm, _ = heads()
    mixed = MaskedLMHead(len(VOCAB), 32, dtype="mixed_bfloat16")
    mixed.build((None, 32))
    for mine, theirs in zip(mixed.weights, masked_lm.weights):
        mine.assign(theirs)
    hidden = np.random.default_rng(1).normal(size=[3, 5, 32]).astype("float32")
    logits = mixed(hidden, word_embeddings(encoder))
    assert logits.dtype == tf.float32 and mixed.bias.dtype == "float32"
    expected = masked_lm(hidden, word_embeddings(encoder))
    np.testing.assert_allclose(logits, expected, atol=0.1 * float(np.std(expected)))


def test_heads_serialize_through_get_config():
    masked_lm, next_sentence = heads()
    again = MaskedLMHead.from_config(masked_lm.get_config())
    assert again.get_config() == masked_lm.get_config()
    assert NextSentenceHead.from_config(next_sentence.get_config()).units == 2


def test_heads_written_with_the_encoder_load_back_exactly(tmp_path):
    encoder, tokenizer = tiny()
    masked_lm, next_sentence = heads(seed=1)
    written = save_hugging_face(tmp_path / "ckpt", encoder, tokenizer,
                                head_weights=head_state(masked_lm, next_sentence),
                                architecture="BertForPreTraining")
    fresh_masked_lm, fresh_next_sentence = heads(seed=2)
    loaded = load_head_weights(read_checkpoint(written), fresh_masked_lm, fresh_next_sentence)
    assert loaded == ["masked LM", "next sentence"]
    for mine, theirs in zip(masked_lm.weights + next_sentence.weights,
                            fresh_masked_lm.weights + fresh_next_sentence.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_a_checkpoint_without_heads_leaves_them_fresh(minilm_dir):
    masked_lm, next_sentence = heads()
    before = [w.numpy() for w in masked_lm.weights]
    assert load_head_weights(read_checkpoint(minilm_dir), masked_lm, next_sentence) == []
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, masked_lm.weights))


def test_google_names_and_layout_are_read(tmp_path):
    masked_lm, next_sentence = heads(seed=3)
    state = head_state(masked_lm, next_sentence)
    checkpoint = read_checkpoint(save_hugging_face(tmp_path / "c", *tiny()))
    # As read_checkpoint renames a Google checkpoint's cls/... variables (kernels [in, out],
    # output_weights [2, H]).
    google = {"cls.predictions.output_bias": state.pop("cls.predictions.bias"),
              "cls.seq_relationship.output_weights": state.pop("cls.seq_relationship.weight"),
              "cls.seq_relationship.output_bias": state.pop("cls.seq_relationship.bias")}
    state = {name: value.T if value.ndim == 2 else value for name, value in state.items()}
    checkpoint.weights.update(state, **google)
    checkpoint.original_names.update({name: name for name in list(state) + list(google)})
    fresh = heads(seed=4)
    load_head_weights(checkpoint, *fresh)
    for mine, theirs in zip(masked_lm.weights + next_sentence.weights,
                            fresh[0].weights + fresh[1].weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_incomplete_or_misshapen_heads_are_refused_and_nothing_is_assigned(tmp_path):
    masked_lm, next_sentence = heads(seed=5)
    state = head_state(masked_lm, next_sentence)
    del state["cls.predictions.transform.LayerNorm.bias"]
    state["cls.seq_relationship.bias"] = np.zeros(3, np.float32)
    checkpoint = read_checkpoint(save_hugging_face(tmp_path / "c", *tiny(), head_weights=state))
    fresh = heads(seed=6)
    before = [w.numpy() for w in fresh[0].weights + fresh[1].weights]
    with pytest.raises(ValueError) as error:
        load_head_weights(checkpoint, *fresh)
    assert "masked LM head is incomplete" in str(error.value)
    assert "bert.cls.seq_relationship.bias" not in str(error.value)
    assert "cls.seq_relationship.bias: checkpoint (3,), model expects (2,)" in str(error.value)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, fresh[0].weights + fresh[1].weights))
