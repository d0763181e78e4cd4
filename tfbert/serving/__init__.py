"""Clients for a TF Serving server that serves a tfbert export (see tfbert.export).

    from tfbert.serving import make_client
    client = make_client("localhost:8500", "sentiment")                    # gRPC
    client = make_client("localhost:8501", "sentiment", protocol="rest")   # REST
    client.predict(texts), client.classify(texts), client.metadata()

Both clients have the same methods and return types; every failure is a ServingError
whose message names what to fix.
"""

import importlib

from tfbert.serving.errors import ServingError

PROTOCOLS = ("grpc", "rest")
# The gRPC client imports TensorFlow (its tensor protos): loaded on first use, so that
# `tfbert.serving.errors` (which every CLI command catches) and the REST client do not.
_CLIENTS = {"GrpcClient": "tfbert.serving.grpc_client", "RestClient": "tfbert.serving.rest_client"}


def __getattr__(name):
    if name in _CLIENTS:
        return getattr(importlib.import_module(_CLIENTS[name]), name)
    raise AttributeError(f"module 'tfbert.serving' has no attribute {name!r}")


def make_client(address, model_name, protocol="grpc", **kwargs):
    """A GrpcClient or RestClient; kwargs: version, timeout (and format for REST)."""
    if protocol == "grpc":
        from tfbert.serving.grpc_client import GrpcClient

        return GrpcClient(address, model_name, **kwargs)
    if protocol == "rest":
        from tfbert.serving.rest_client import RestClient

        return RestClient(address, model_name, **kwargs)
    raise ServingError(f"protocol {protocol!r} is not one of: {', '.join(PROTOCOLS)}.")


__all__ = ["GrpcClient", "RestClient", "ServingError", "make_client"]
