"""Files replaced whole: a reader, or a process killed mid-write and started again,
finds the old file or the new one, never half of one.

The new content goes to a temporary file beside the target (same directory, so the
same file system) and one `os.replace` puts it in place, which POSIX makes atomic.
A temporary left by a kill is named `.<stem>.tmp-*` and is never read.
"""

import contextlib
import os
import pathlib
import tempfile


def write_atomically(path, text, mode=0o666):
    """Replaces path with text (UTF-8) in one rename."""
    with replacing(path, mode) as temporary:
        temporary.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def replacing(path, mode=0o666):
    """Yields a temporary path beside `path`; what is written there replaces `path`
    (with `mode`, less the umask) when the block ends without an error."""
    path = pathlib.Path(path)
    stem, suffixes = _parts(path)  # the same suffixes: Keras insists on ".keras", ".weights.h5"
    descriptor, temporary = tempfile.mkstemp(prefix=f".{stem}.tmp-", suffix=suffixes,
                                             dir=path.parent)
    os.close(descriptor)
    try:
        yield pathlib.Path(temporary)
        os.chmod(temporary, mode & ~umask())  # mkstemp makes it 0600
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(path):
    """Removes the temporaries that writers of `path` killed mid-write left. Only for a
    caller that knows no other writer of `path` is running (one that holds a lock)."""
    path = pathlib.Path(path)
    stem, suffixes = _parts(path)
    for stale in path.parent.glob(f".{stem}.tmp-*{suffixes}"):
        stale.unlink(missing_ok=True)


def _parts(path):
    stem, _, _ = path.name.partition(".")
    return stem, "".join(path.suffixes)


def check_writable_directory(path, key):
    """Makes directory `path` (the value of recipe key `key`) and writes a file in it,
    so that a run learns it cannot write there before it trains, not after."""
    path = pathlib.Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".write-check-", dir=path):
            pass
    except OSError as error:
        raise ValueError(f"{key} = {str(path)!r} is not a directory tfbert can write to: "
                         f"{error.strerror or error} ({error.filename or path}).") from None
