"""Vocabulary extension: [UNK] words of a corpus take [unusedN] slots, then are
appended; the encoder keeps its weights and new rows start at the mean row."""

import numpy as np

from tfbert import BertEncoder, BertTokenizer
from tfbert.text.vocabulary import extend_vocabulary, extended_vocabulary, unknown_words
from tiny_models import VOCAB, spread

VOCAB_WITH_SLOTS = VOCAB[:5] + ["[unused0]", "[unused1]"] + VOCAB[5:]


def tiny_with_slots():
    encoder = spread(BertEncoder(vocab_size=len(VOCAB_WITH_SLOTS), hidden_size=32, num_layers=2,
                                 num_heads=4, intermediate_size=64, max_position_embeddings=64))
    return encoder, BertTokenizer(VOCAB_WITH_SLOTS, max_length=32)


def test_unknown_words_are_counted_as_the_tokenizer_sees_them():
    _, tokenizer = tiny_with_slots()
    found = unknown_words(tokenizer, ["Good 发热 ZEBRA", "zebra 发烧 very good", "热"])
    # Lowercased, Chinese per character; most frequent first, ties in first-seen order.
    assert found == [("发", 2), ("热", 2), ("zebra", 2), ("烧", 1)]
    assert unknown_words(tokenizer, ["Good 发热 ZEBRA", "zebra 发烧"], min_count=2) == [
        ("发", 2), ("zebra", 2)]


def test_new_tokens_fill_unused_slots_then_are_appended():
    vocabulary, ids = extended_vocabulary(VOCAB_WITH_SLOTS, ["发", "good", "热", "烧", "发"])
    assert ids == [5, 6, len(VOCAB_WITH_SLOTS)]  # "good" is known; "发" once
    assert vocabulary[5:7] == ["发", "热"] and vocabulary[-1] == "烧"
    assert len(vocabulary) == len(VOCAB_WITH_SLOTS) + 1


def test_extended_model_keeps_old_text_and_spells_the_new_words():
    encoder, tokenizer = tiny_with_slots()
    new_encoder, new_tokenizer, ids = extend_vocabulary(encoder, tokenizer, ["发", "热", "zebra"])
    old_text = ["good movie", "the plot was not very good"]
    before, after = encoder(tokenizer(old_text)), new_encoder(new_tokenizer(old_text))
    np.testing.assert_allclose(after["sequence_output"], before["sequence_output"], atol=1e-6)
    assert new_tokenizer.tokenize(["发热 zebra"]).to_list() == [ids]
    table = encoder.get_layer("embeddings").token_embedding.embeddings.numpy()
    grown = new_encoder.get_layer("embeddings").token_embedding.embeddings.numpy()
    assert grown.shape == (len(VOCAB_WITH_SLOTS) + 1, 32)
    trained = [i for i, token in enumerate(VOCAB_WITH_SLOTS) if not token.startswith("[unused")]
    for i in ids:
        np.testing.assert_allclose(grown[i], table[trained].mean(0), atol=1e-6)
    assert new_encoder.bert_config.vocab_size == len(new_tokenizer.vocabulary)
