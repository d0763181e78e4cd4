"""What a pretrained encoder says about texts: sentence vectors and WordPiece tokens."""

import numpy as np

from tfbert.tokenizer import BertTokenizer


def sentence_vectors(texts, checkpoint, pooling="mean", batch_size=32, normalize=False):
    """float32 [len(texts), hidden]: "mean" (average of the real tokens' vectors,
    how sentence-transformers checkpoints were trained) or "cls" (the pooled output);
    `normalize`: each vector scaled to length 1 (cosine similarity is then a dot product)."""
    from tfbert.encoder import BertEncoder

    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    encoder = BertEncoder.from_pretrained(checkpoint)
    vectors = []
    for start in range(0, len(texts), batch_size):
        inputs = tokenizer(texts[start:start + batch_size])
        outputs = encoder(inputs, training=False)
        if pooling == "mean":
            vectors.append(mean_pool(outputs["sequence_output"], inputs["input_mask"]))
        else:
            vectors.append(np.asarray(outputs["pooled_output"], np.float32))
    if not vectors:
        hidden = encoder(tokenizer(["a"]))["pooled_output"].shape[-1]
        return np.zeros((0, hidden), np.float32)
    vectors = np.concatenate(vectors)
    if normalize:
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def mean_pool(sequence_output, input_mask):
    """Average of the real tokens' vectors: [batch, seq, hidden] -> [batch, hidden]."""
    mask = np.asarray(input_mask, np.float32)[:, :, None]
    return (np.asarray(sequence_output, np.float32) * mask).sum(1) / np.maximum(mask.sum(1), 1)


def cosine_similarities(vectors):
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def tokens(text, text_pair=None, checkpoint="all-minilm-l6-v2"):
    """How `text` (and `text_pair`) are packed: {"tokens", "input_ids", "segment_ids"}."""
    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    inputs = tokenizer([text], None if text_pair is None else [text_pair])
    length = int(inputs["input_mask"][0].numpy().sum())
    ids = inputs["input_ids"][0, :length].numpy().tolist()
    return {"tokens": [tokenizer.vocabulary[i] for i in ids], "input_ids": ids,
            "segment_ids": inputs["segment_ids"][0, :length].numpy().tolist()}
