"""What a pretrained encoder says about texts: sentence vectors, token vectors (with the
byte span of each token's word), the static input-embedding vectors of a corpus's tokens
(word2vec text format), and how a text is split into WordPiece tokens.

Sentence and token vectors stream: texts come from any iterable (a file read line by
line), are embedded window by window, and go to disk as they are made (a `.npy` memory
map, `.npz` or JSONL), so a corpus larger than memory works.
"""

import pathlib
import tempfile

import numpy as np

from tfbert.text.tokenizer import BertTokenizer

# Batches tokenized and sorted by length together: a batch then pads its rows to
# similar lengths, and memory holds only this many batches of text.
WINDOW_BATCHES = 64


def text_lines(path):
    """The lines of a UTF-8 file, one at a time, without their line ends ("\\n" or
    "\\r\\n"). Invalid UTF-8 is an error that names the file and line."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {number}: not UTF-8 (byte {error.start} of "
                                 "the line).") from None


def windows(texts, size):
    """(index of the first text, list of up to `size` texts) over any iterable."""
    window, start = [], 0
    for text in texts:
        window.append(text)
        if len(window) == size:
            yield start, window
            start, window = start + size, []
    if window:
        yield start, window


def _progress(count, enabled):
    import keras

    return keras.utils.Progbar(count, unit_name="text") if enabled and count else None


def sentence_vectors(texts, checkpoint, pooling="mean", batch_size=32, normalize=False,
                     output=None, count=None, progress=False, compute_dtype="float32"):
    """float32 [count, hidden], row i the vector of texts[i]: "mean" (average of the real
    tokens' vectors, how sentence-transformers checkpoints were trained) or "cls" (the
    pooled output); `normalize`: each vector scaled to length 1 (cosine similarity is
    then a dot product).

    texts: a list, or any iterable of strings when `count` says how many.
    output: a `.npy` path: the result is a memory map of that file, filled as batches
      finish (nothing else of the corpus is held in memory).
    compute_dtype: "float32", "bfloat16" (CPUs with bf16 units: the encoder, weights
      too, in bf16 as a bf16 export runs; vectors within about 1e-4, 1 - cosine, of
      float32's) or "float16" (GPUs); the vectors are float32 either way.
    """
    import tensorflow as tf

    from tfbert.export import COMPUTE_DTYPES  # the export's dtype -> policy table
    from tfbert.models.encoder import BertEncoder
    from tfbert.tasks.sentence_embedder import SentenceEmbedder

    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype {compute_dtype!r} is not one of: "
                         f"{', '.join(COMPUTE_DTYPES)}.")
    count = len(texts) if count is None else int(count)
    policy = COMPUTE_DTYPES[compute_dtype] or "float32"
    model = SentenceEmbedder(BertEncoder.from_pretrained(checkpoint, dtype=policy),
                             BertTokenizer.from_pretrained(checkpoint), pooling, normalize,
                             dtype=policy)
    # The task's own inference function: the engine sorts each window by length and
    # runs it in batches of batch_size rows, each padded to its own longest.
    from tfbert.tasks.task import compiled

    embed = compiled(model, "named_outputs")
    shape = (count, model.encoder.bert_config.hidden_size)
    vectors = (np.lib.format.open_memmap(output, "w+", np.float32, shape) if output
               else np.zeros(shape, np.float32))
    bar, done = _progress(count, progress), 0
    for start, window in windows(texts, batch_size * WINDOW_BATCHES):
        if start + len(window) > count:
            raise ValueError(f"more texts than count={count}.")
        vectors[start:start + len(window)] = embed(
            tf.constant(window, tf.string), None, {}, chunk_size=batch_size)["embedding"].numpy()
        done += len(window)
        if bar:
            bar.update(done)
    if done != count:
        raise ValueError(f"{done} texts, where count={count} were announced.")
    if output:
        vectors.flush()
    return vectors


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
    the UTF-8 byte span of the word it belongs to. Yields one dict per text, in order:
    {"tokens": [str], "word_start": [int], "word_end": [int], "vectors": float32 [n, H]},
    window by window (each embedded length-sorted), so a corpus larger than memory
    streams through. A text longer than the tokenizer's max_length keeps its first
    max_length - 2 tokens."""
    from tfbert.models.encoder import BertEncoder

    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    yield from _token_rows(texts, tokenizer, BertEncoder.from_pretrained(checkpoint), batch_size)


def _token_rows(texts, tokenizer, encoder, batch_size, window_batches=8):
    """token_vectors' rows, in input order. Per window of `window_batches` batches, the
    texts are split once and run through the encoder by the inference engine (sorted by
    length, each batch padded only to its own longest row); the window's rows are then
    yielded in input order, so memory holds one window of vectors at a time."""
    import tensorflow as tf

    from tfbert.inference.engine import run_by_length

    hidden = encoder.bert_config.hidden_size

    @tf.function(reduce_retracing=True, autograph=False)
    def sequence_outputs(ids, width):                        # [w, (tokens)] -> [w, width, H]
        return run_by_length(
            lambda chunk, longest: encoder(tokenizer.pack(chunk), training=False)["sequence_output"],
            ids, tokenizer.packed_lengths(ids), (tf.float32, [width, hidden]), batch_size)

    vocabulary = tokenizer.vocabulary
    limit = tokenizer.max_length - 2
    for _, window in windows(texts, batch_size * window_batches):
        words, begins, ends = tokenizer.split_words_with_offsets(tf.constant(window, tf.string))
        pieces = tokenizer.tokenize_words(words)                       # [w, (words), (pieces)]
        per_piece = lambda offsets: tf.repeat(offsets.flat_values, pieces.values.row_lengths())
        piece_begins = pieces.with_flat_values(per_piece(begins)).merge_dims(1, 2).to_list()
        piece_ends = pieces.with_flat_values(per_piece(ends)).merge_dims(1, 2).to_list()
        ids = pieces.merge_dims(1, 2)                                   # [w, (tokens)]
        lengths = np.minimum(ids.row_lengths().numpy(), limit)
        sequence = sequence_outputs(ids, tf.constant(int(lengths.max(initial=0)) + 2)).numpy()
        for row, row_ids in enumerate(ids.to_list()):
            n = lengths[row]                                            # drop [CLS] and [SEP]
            yield {"tokens": [vocabulary[i] for i in row_ids[:n]],
                   "word_start": piece_begins[row][:n], "word_end": piece_ends[row][:n],
                   "vectors": sequence[row, 1:n + 1].astype(np.float32)}


def write_token_vectors_npz(texts, checkpoint, path, batch_size=32, progress=False):
    """token_vectors of every text into one `.npz`, the ragged rows flattened:
    vectors float32 [N, H], tokens str [N], word_start / word_end int32 [N] (bytes),
    row_splits int64 [texts + 1] (text i's tokens are rows row_splits[i]:row_splits[i+1]).

    `texts`: a list, or a callable that returns a fresh iterable of them (a file's
    lines): they are read twice, once to count the tokens and once to embed. The arrays
    are filled on disk (memory maps) and streamed into the archive, so the corpus need
    not fit in memory. Returns (texts, tokens) written."""
    from tfbert.models.encoder import BertEncoder

    fresh = texts if callable(texts) else (lambda: texts)
    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    encoder = BertEncoder.from_pretrained(checkpoint)
    lengths = []
    for _, window in windows(fresh(), 1024):
        lengths.extend(np.minimum(tokenizer.tokenize(window).row_lengths().numpy(),
                                  tokenizer.max_length - 2).tolist())
    row_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total, hidden = int(row_splits[-1]), encoder.bert_config.hidden_size
    longest = max(len(token) for token in tokenizer.vocabulary)
    layout = {"vectors": (np.float32, (total, hidden)), "tokens": (f"<U{longest}", (total,)),
              "word_start": (np.int32, (total,)), "word_end": (np.int32, (total,))}
    bar = _progress(len(lengths), progress)
    with tempfile.TemporaryDirectory(dir=pathlib.Path(path).resolve().parent) as scratch:
        arrays = {name: np.lib.format.open_memmap(pathlib.Path(scratch) / f"{name}.npy", "w+",
                                                  dtype, shape)
                  for name, (dtype, shape) in layout.items()}
        for index, row in enumerate(_token_rows(fresh(), tokenizer, encoder, batch_size)):
            if index >= len(lengths) or len(row["tokens"]) != lengths[index]:
                raise ValueError(f"text {index} changed between the two passes over the texts.")
            rows = slice(row_splits[index], row_splits[index + 1])
            for name in layout:
                arrays[name][rows] = row[name]
            if bar:
                bar.update(index + 1)
        np.savez(path, row_splits=row_splits, **arrays)
    return len(lengths), total


def write_static_vectors(texts, checkpoint, path):
    """The input embedding row of every token that occurs in `texts`, in word2vec's text
    format (a "count dimension" line, then "token v1 v2 ..."), which gensim's
    `KeyedVectors.load_word2vec_format` reads. Returns the number of tokens written."""
    from tfbert.models.encoder import BertEncoder

    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    table = BertEncoder.from_pretrained(checkpoint).get_layer(
        "embeddings").token_embedding.embeddings.numpy()
    seen = {}
    for _, window in windows(texts, 1024):
        for row in tokenizer.tokenize(window).to_list():
            for token_id in row:
                seen.setdefault(token_id, None)
    vocabulary = tokenizer.vocabulary
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(seen)} {table.shape[1]}\n")
        for token_id in seen:
            f.write(vocabulary[token_id] + " " + " ".join(f"{x:.6f}" for x in table[token_id]) + "\n")
    return len(seen)
