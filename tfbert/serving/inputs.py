"""Checks on what callers pass in, shared by the gRPC and REST clients: the server
address, and batches of texts (str or raw bytes, one text_pair per text)."""

from tfbert.serving.errors import ServingError


def check_address(address):
    """'HOST:PORT' (IPv6 as '[::1]:8500') -> the same string, or a ServingError."""
    host, colon, port = str(address).rpartition(":")
    if not colon or not host or "/" in address or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServingError(
            f"server address {address!r} is not HOST:PORT: give e.g. localhost:8500 for "
            "gRPC or localhost:8501 for REST (no http:// and no path).")
    return address


def text_batch(texts, what="texts"):
    """A list of str or bytes -> list of UTF-8 bytes. Raw bytes pass as they are:
    the export turns invalid UTF-8 into U+FFFD itself."""
    if isinstance(texts, (str, bytes)):
        raise ServingError(
            f"{what} must be a list of strings, got a single string {texts[:40]!r}: "
            f"wrap it in a list, [{what[:-1]}].")
    try:
        items = list(texts)
    except TypeError:
        raise ServingError(f"{what} must be a list of strings, got {type(texts).__name__}.")
    for i, item in enumerate(items):
        if not isinstance(item, (str, bytes)):
            raise ServingError(f"{what}[{i}] is {type(item).__name__}, not str or bytes.")
    # surrogateescape: text read from a file with errors="surrogateescape" gets
    # its original bytes back.
    return [item.encode("utf-8", "surrogateescape") if isinstance(item, str) else bytes(item)
            for item in items]


def text_and_pair_batches(texts, text_pairs):
    """(texts, text_pairs or None) as byte lists, checked to have one pair per text."""
    texts = text_batch(texts, "texts")
    if text_pairs is None:
        return texts, None
    text_pairs = text_batch(text_pairs, "text_pairs")
    if len(texts) != len(text_pairs):
        raise ServingError(
            f"texts has {len(texts)} items but text_pairs has {len(text_pairs)}: "
            "give one text_pair per text.")
    return texts, text_pairs


def input_names(text_pairs):
    return ["text"] if text_pairs is None else ["text", "text_pair"]
