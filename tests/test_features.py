"""Feature extraction: MiniLM sentence vectors as sentence-transformers computes them."""

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
