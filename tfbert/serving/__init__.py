"""Clients for a TF Serving server that serves a tfbert export (see tfbert.export).

    from tfbert.serving import make_client
    client = make_client("localhost:8500", "sentiment")                    # gRPC
    client = make_client("localhost:8501", "sentiment", protocol="rest")   # REST
    client.predict(texts), client.classify(texts), client.metadata()

Both clients have the same methods and return types; every failure is a ServingError
whose message names what to fix.
"""

from tfbert.serving.errors import ServingError
from tfbert.serving.grpc_client import GrpcClient
from tfbert.serving.rest_client import RestClient

PROTOCOLS = ("grpc", "rest")


def make_client(address, model_name, protocol="grpc", **kwargs):
    """A GrpcClient or RestClient; kwargs: version, timeout (and format for REST)."""
    if protocol == "grpc":
        return GrpcClient(address, model_name, **kwargs)
    if protocol == "rest":
        return RestClient(address, model_name, **kwargs)
    raise ServingError(f"protocol {protocol!r} is not one of: {', '.join(PROTOCOLS)}.")


__all__ = ["GrpcClient", "RestClient", "ServingError", "make_client"]
