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
