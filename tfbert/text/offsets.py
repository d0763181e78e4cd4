"""UTF-8 byte offsets (what a served graph can compute) -> Python str indices.

A served tagger answers entity offsets in bytes of the UTF-8 text it was sent, so that
any client language can slice its input. Python slices `str` by code points:
`text[char_start:char_end]` is the entity once the offsets are converted here.
"""


def char_offsets(text, byte_offsets):
    """Byte offsets into text.encode("utf-8") -> str indices; -1 (padding) stays -1.

    An offset inside a character (which a served graph never returns) is an error.
    """
    encoded = text.encode("utf-8", errors="replace")
    # The str index of each byte offset that starts a character, and of the end.
    index = {}
    position = 0
    for char_index, char in enumerate(text):
        index[position] = char_index
        position += len(char.encode("utf-8", errors="replace"))
    index[len(encoded)] = len(text)
    result = []
    for offset in byte_offsets:
        offset = int(offset)
        if offset == -1:
            result.append(-1)
        elif offset in index:
            result.append(index[offset])
        else:
            raise ValueError(f"byte offset {offset} is not at a character boundary of {text!r}.")
    return result


def with_char_offsets(outputs, texts):
    """A tagger's outputs with `entity_start` / `entity_end` as str indices into `texts`
    (unchanged when the outputs hold no entities)."""
    if "entity_start" not in outputs:
        return outputs
    import numpy as np

    texts = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in texts]
    converted = dict(outputs)
    for key in ("entity_start", "entity_end"):
        offsets = np.asarray(outputs[key])
        converted[key] = np.array([char_offsets(text, row) for text, row in zip(texts, offsets)],
                                  dtype=np.int64).reshape(offsets.shape)
    return converted
