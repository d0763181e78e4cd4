"""Feature extraction: MiniLM sentence vectors as sentence-transformers computes them."""

import json

import numpy as np
import pytest

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


def test_bfloat16_vectors_stay_close_to_the_reference_and_in_order(tmp_path, capsys):
    from tfbert.cli import main

    reference = np.load(FIXTURES / "sentence_vectors_reference.npz")
    texts = [str(t) for t in reference["texts"]]
    vectors = sentence_vectors(texts, "all-minilm-l6-v2", "mean", batch_size=16,
                               normalize=True, compute_dtype="bfloat16")
    assert vectors.dtype == np.float32
    cosine = np.sum(vectors * reference["vectors"], axis=1)
    # bf16 keeps 8 bits of mantissa: each vector moves a little (measured: 1 - cosine
    # at most 7.7e-5), far less than the gap to any other sentence's vector (> 0.4).
    assert 1 - cosine.min() < 1e-3, 1 - cosine.min()
    nearest = np.argmax(vectors @ reference["vectors"].T, axis=1)
    np.testing.assert_array_equal(nearest, np.arange(len(texts)))
    with pytest.raises(ValueError, match="compute_dtype 'int8' is not one of"):
        sentence_vectors(texts[:2], "all-minilm-l6-v2", compute_dtype="int8")
    output = tmp_path / "v.npy"
    assert main(["embed", *texts[:3], "--normalize", "--compute-dtype", "bfloat16",
                 "--output", str(output)]) == 0
    np.testing.assert_allclose(np.load(output), vectors[:3], atol=1e-6)


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
    assert main(["embed", "--checkpoint", str(checkpoint), "--export", "search", "--dir",
                 str(tmp_path / "models"), "--normalize", "--compute-dtype", "bfloat16"]) == 0
    served = tf.saved_model.load(str(tmp_path / "models" / "search" / "3"))
    bf16 = served.signatures["serving_default"](text=tf.constant(["good film", "bad plot"]))
    bf16 = bf16["embedding"].numpy()
    assert bf16.dtype == np.float32 and not np.array_equal(bf16, vectors)  # computed in bf16
    np.testing.assert_allclose(bf16, expected, atol=0.05)


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


def test_sentence_vectors_stream_from_a_file_to_npy_in_input_order(tmp_path, capsys):
    """Texts of very different lengths are embedded length-sorted per window; the rows of
    the .npy (a memory map filled batch by batch) are still in the file's order, equal to
    embedding each text alone. CRLF line ends are read as line ends."""
    from conftest import write_tiny_checkpoint
    from tfbert.cli import main

    words = ["good", "film", "bad", "plot", "long", "very"]
    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny", words))
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=n)) for n in rng.integers(0, 40, size=23)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes("\r\n".join(texts).encode() + b"\r\n")
    output = tmp_path / "vectors.npy"
    assert main(["embed", "--file", str(corpus), "--checkpoint", checkpoint, "--batch-size", "4",
                 "--output", str(output), "--normalize"]) == 0
    assert "wrote 23 x 32 mean-pooled vectors" in capsys.readouterr().out
    alone = sentence_vectors(texts, checkpoint, batch_size=1, normalize=True)  # no padding
    np.testing.assert_allclose(np.load(output), alone, atol=1e-5)
    streamed = sentence_vectors(iter(texts), checkpoint, batch_size=5, normalize=True, count=23)
    np.testing.assert_allclose(streamed, alone, atol=1e-5)
    with pytest.raises(ValueError, match="22 texts, where count=23"):
        sentence_vectors(iter(texts[:22]), checkpoint, count=23)
    assert sentence_vectors([], checkpoint).shape == (0, 32)


def test_batched_token_vectors_equal_each_text_alone_in_input_order(tmp_path):
    """Texts of very different lengths, over several windows (embedded length-sorted,
    padded per batch): each row equals the text embedded alone (no padding), in input
    order; a text over max_length is cut. A row put back in the wrong place, or a
    padded position kept, fails it; that the batches were sorted is not asserted."""
    from conftest import write_tiny_checkpoint
    from tfbert import BertEncoder, BertTokenizer
    from tfbert.features import _token_rows

    words = ["good", "film", "bad", "plot", "long", "very"]
    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny", words))
    tokenizer = BertTokenizer.from_pretrained(checkpoint, max_length=16)
    encoder = BertEncoder.from_pretrained(checkpoint)
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, size=n)) for n in rng.integers(0, 25, size=19)]
    rows = list(_token_rows(iter(texts), tokenizer, encoder, batch_size=3, window_batches=2))
    assert len(rows) == len(texts)
    for text, row in zip(texts, rows):
        alone = next(_token_rows([text], tokenizer, encoder, batch_size=1))
        assert row["tokens"] == alone["tokens"] == text.split()[:14]
        assert row["vectors"].shape == (len(row["tokens"]), 32)
        np.testing.assert_allclose(row["vectors"], alone["vectors"], atol=1e-5)


def test_token_vectors_npz_equals_the_jsonl_rows(tmp_path, capsys):
    from conftest import write_tiny_checkpoint
    from tfbert.cli import main

    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny", ["good", "film", "bad", "plot"]))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("good film\n\nbad plot , bad film\n", encoding="utf-8")
    assert main(["embed", "--file", str(corpus), "--checkpoint", checkpoint,
                 "--tokens", str(tmp_path / "t.jsonl")]) == 0
    assert main(["embed", "--file", str(corpus), "--checkpoint", checkpoint,
                 "--tokens", str(tmp_path / "t.npz")]) == 0
    assert "wrote the vectors of 7 tokens of 3 texts" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    archive = np.load(tmp_path / "t.npz")
    splits = archive["row_splits"]
    assert splits.tolist() == [0, 2, 2, 7]
    for i, row in enumerate(rows):
        part = slice(splits[i], splits[i + 1])
        assert archive["tokens"][part].tolist() == row["tokens"]
        assert archive["word_start"][part].tolist() == row["word_start"]
        assert archive["word_end"][part].tolist() == row["word_end"]
        np.testing.assert_allclose(archive["vectors"][part].reshape(-1, 32),
                                   np.array(row["vectors"]).reshape(-1, 32), atol=1e-5)


def test_embed_bad_input_names_the_file_line_or_flag(tmp_path, capsys):
    from conftest import write_tiny_checkpoint
    from tfbert.cli import main

    checkpoint = str(write_tiny_checkpoint(tmp_path / "tiny", ["good"]))
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"good\ngood \xff good\n")
    output = tmp_path / "v.npy"
    assert main(["embed", "--file", str(corpus), "--checkpoint", checkpoint,
                 "--output", str(output)]) != 0
    assert "corpus.txt, line 2: not UTF-8" in capsys.readouterr().err
    assert not output.exists()  # checked before any work
    assert main(["embed", "good", "--checkpoint", checkpoint, "--output", "v.txt"]) != 0
    assert "--output v.txt: the file must end in .npy" in capsys.readouterr().err
    assert main(["embed", "--file", str(tmp_path / "missing.txt"), "--checkpoint", checkpoint]) != 0
    assert "input file not found" in capsys.readouterr().err
    tokens = tmp_path / "t.jsonl"
    assert main(["embed", "good", "--checkpoint", checkpoint, "--tokens", str(tokens),
                 "--compute-dtype", "bfloat16"]) != 0
    assert "--tokens is computed in float32" in capsys.readouterr().err
    assert not tokens.exists()
