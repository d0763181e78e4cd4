"""What a pretrained encoder says about texts: sentence vectors, token vectors (with the
byte span of each token's word), the static input-embedding vectors of a corpus's tokens
(word2vec text format), and how a text is split into WordPiece tokens."""

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


def token_vectors(texts, checkpoint, batch_size=32):
    """Per text, the vector of each WordPiece token (no [CLS]/[SEP]) with the token and
    the UTF-8 byte span of the word it belongs to. Yields one dict per text:
    {"tokens": [str], "word_start": [int], "word_end": [int], "vectors": float32 [n, H]},
    batch by batch, so a corpus larger than memory streams through."""
    import tensorflow as tf

    from tfbert.encoder import BertEncoder

    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    encoder = BertEncoder.from_pretrained(checkpoint)
    vocabulary = tokenizer.vocabulary
    for start in range(0, len(texts), batch_size):
        batch = tf.constant(texts[start:start + batch_size], tf.string)
        words, begins, ends = tokenizer.split_words_with_offsets(batch)
        pieces = tokenizer.tokenize_words(words)                       # [b, (words), (pieces)]
        per_piece = lambda offsets: tf.repeat(offsets.flat_values, pieces.values.row_lengths())
        piece_begins = pieces.with_flat_values(per_piece(begins)).merge_dims(1, 2)
        piece_ends = pieces.with_flat_values(per_piece(ends)).merge_dims(1, 2)
        ids = pieces.merge_dims(1, 2)                                   # [b, (tokens)]
        features = tokenizer.pack(ids)
        sequence = encoder(features, training=False)["sequence_output"].numpy()
        for row, row_ids in enumerate(ids.to_list()):
            n = min(len(row_ids), tokenizer.max_length - 2)
            yield {"tokens": [vocabulary[i] for i in row_ids[:n]],
                   "word_start": piece_begins[row][:n].numpy().tolist(),
                   "word_end": piece_ends[row][:n].numpy().tolist(),
                   "vectors": sequence[row, 1:n + 1].astype(np.float32)}


def write_static_vectors(texts, checkpoint, path):
    """The input embedding row of every token that occurs in `texts`, in word2vec's text
    format (a "count dimension" line, then "token v1 v2 ..."), which gensim's
    `KeyedVectors.load_word2vec_format` reads. Returns the number of tokens written."""
    from tfbert.encoder import BertEncoder

    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    table = BertEncoder.from_pretrained(checkpoint).get_layer(
        "embeddings").token_embedding.embeddings.numpy()
    seen = {}
    for start in range(0, len(texts), 1024):
        for row in tokenizer.tokenize(texts[start:start + 1024]).to_list():
            for token_id in row:
                seen.setdefault(token_id, None)
    vocabulary = tokenizer.vocabulary
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(seen)} {table.shape[1]}\n")
        for token_id in seen:
            f.write(vocabulary[token_id] + " " + " ".join(f"{x:.6f}" for x in table[token_id]) + "\n")
    return len(seen)
