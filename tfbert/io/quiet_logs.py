"""Keeps TensorFlow's C++ start-up log lines off a command's stderr.

TensorFlow 2.21 logs from C++ through absl before anything reads TF_CPP_MIN_LOG_LEVEL
("All log messages before absl::InitializeLog() is called are written to STDERR", the
CUDA probe on a machine without a GPU, oneDNN and CPU-feature notes), so the variable
alone does not silence it. The command line routes file descriptor 2 through a pipe
instead; a thread copies every line to the real stderr except those `is_noise` names.
Python's own output (tracebacks, warnings, tfbert's messages) goes through the same
pipe, in order, and is kept whole.
"""

import atexit
import os
import re
import sys
import threading

# absl's C++ prefix: severity letter, MMDD, time, thread id, file:line]
_CPP_LOG = re.compile(rb"^([IWEF])\d{4} [\d:.]+\s+\d+ (\S+):\d+\] (.*)")
# Error-level lines that are not errors: the CUDA probe on a machine without a GPU and
# a oneDNN note about CPUs without AVX-512.
_HARMLESS_ERRORS = (
    rb"failed call to cuInit",
    rb"oneDNN supports DT_\w+ only on platforms with AVX-512",
)
_NOISE_LINES = (
    rb"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    rb"This TensorFlow binary is optimized to use available CPU instructions",
    rb"To enable the following instructions:",
    rb"rebuild TensorFlow with the appropriate compiler flags",
)


def is_noise(line):
    """True for a C++ info or warning line and for the known-harmless start-up lines;
    False for everything else (C++ errors that matter, Python output)."""
    match = _CPP_LOG.match(line)
    if match:
        severity, _, message = match.groups()
        if severity in (b"I", b"W"):
            return True
        return severity == b"E" and any(re.search(pattern, message) for pattern in _HARMLESS_ERRORS)
    return any(pattern in line for pattern in _NOISE_LINES)


_unfiltered_stderr = 2


def unfiltered_stderr_fd():
    """The terminal's stderr, bypassing the filter: for a helper process that must be
    heard while this one is stuck inside TensorFlow (the filter thread cannot run then)."""
    return _unfiltered_stderr


def filter_stderr():
    """Routes fd 2 through the filter until the process exits. Call before TensorFlow
    is imported (its first lines come at import)."""
    global _unfiltered_stderr
    real_stderr = _unfiltered_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr.flush()

    def forward():
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
            if kept:
                os.write(real_stderr, kept)
        if pending and not is_noise(pending):
            os.write(real_stderr, pending)
        os.close(read_end)

    thread = threading.Thread(target=forward, name="tfbert-stderr-filter", daemon=True)
    thread.start()

    def restore():
        # Pointing fd 2 back at the terminal closes the pipe's last writer: the thread
        # reads to the end, writes what is left and stops.
        sys.stderr.flush()
        os.dup2(real_stderr, 2)
        thread.join(timeout=5)

    atexit.register(restore)
