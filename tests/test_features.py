"""Feature extraction: MiniLM sentence vectors as sentence-transformers computes them."""

import json

import numpy as np

from conftest import FIXTURES
from tfbert.features import sentence_vectors


def test_mean_pooled_normalised_vectors_equal_the_reference():
    reference = np.load(FIXTURES / "sentence_vectors_reference.npz")
    texts = [str(t) for t in reference["texts"]]
    vectors = sentence_vectors(texts, "all-minilm-l6-v2", "mean", batch_size=16, normalize=True)
    assert vectors.shape == (64, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Rows differ from each other far more than the tolerance: a mix-up would show.
    gaps = 1 - reference["vectors"] @ reference["vectors"].T
    assert np.sort(gaps, axis=1)[:, 1].min() > 1e-3
    np.testing.assert_allclose(vectors, reference["vectors"], rtol=0, atol=1e-5)


def test_embed_export_writes_a_servable_embedder(tmp_path, capsys):
    import tensorflow as tf

    from conftest import write_tiny_checkpoint
    from tfbert.cli import main

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny", ["good", "film", "bad", "plot"])
    assert main(["embed", "--checkpoint", str(checkpoint), "--export", "search", "--dir",
                 str(tmp_path / "models"), "--normalize"]) == 0
    assert "returns embedding [None, 32]" in capsys.readouterr().out
    served = tf.saved_model.load(str(tmp_path / "models" / "search" / "1"))
    vectors = served.signatures["serving_default"](text=tf.constant(["good film", "bad plot"]))
    vectors = vectors["embedding"].numpy()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    expected = sentence_vectors(["good film", "bad plot"], str(checkpoint), normalize=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert main(["embed", "--checkpoint", str(checkpoint), "--export", "search", "--dir",
                 str(tmp_path / "models"), "--pooling", "cls"]) == 0  # version 2, [CLS] pooled
    assert (tmp_path / "models" / "search" / "2").is_dir()


def test_token_vectors_and_static_vectors(tmp_path, minilm_dir, minilm_encoder):
    from tfbert import BertTokenizer
    from tfbert.cli import main
    from tfbert.features import token_vectors

    texts = ["Héllo wonderful world!", "", "naïve café"]
    rows = list(token_vectors(texts, minilm_dir, batch_size=2))
    assert rows[0]["tokens"][:2] == ["hello", "wonderful"] and rows[1]["tokens"] == []
    encoded = texts[0].encode()
    spans = {encoded[s:e].decode() for s, e in zip(rows[0]["word_start"], rows[0]["word_end"])}
    assert spans == {"Héllo", "wonderful", "world", "!"}
    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    whole = minilm_encoder(tokenizer(texts[:1]))["sequence_output"].numpy()[0]
    np.testing.assert_allclose(rows[0]["vectors"], whole[1:1 + len(rows[0]["tokens"])], atol=1e-5)
    assert rows[2]["vectors"].shape == (len(rows[2]["tokens"]), 384)

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the film was good\nthe plot was thin\n")
    assert main(["embed", "--file", str(corpus), "--checkpoint", str(minilm_dir),
                 "--static", str(tmp_path / "static.txt")]) == 0
    lines = (tmp_path / "static.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "6 384" and len(lines) == 7  # the, film, was, good, plot, thin
    table = minilm_encoder.get_layer("embeddings").token_embedding.embeddings.numpy()
    word, *values = lines[1].split(" ")
    np.testing.assert_allclose(np.array(values, np.float32),
                               table[tokenizer.vocabulary.index(word)], atol=1e-6)
    assert main(["embed", "--file", str(corpus), "--checkpoint", str(minilm_dir),
                 "--tokens", str(tmp_path / "tokens.jsonl")]) == 0
    first = json.loads((tmp_path / "tokens.jsonl").read_text().splitlines()[0])
    assert first["tokens"] == ["the", "film", "was", "good"] and len(first["vectors"][0]) == 384
