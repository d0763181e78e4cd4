"""The one error the serving clients raise, and the messages they raise it with.

Each message names what was wrong (the address, model, version, signature or
inputs) and what to do about it; the server's own words are quoted where it gave any.
"""


class ServingError(Exception):
    """A request to TF Serving could not be made or was refused."""


def unreachable(address, protocol, reason="connection refused"):
    flag = "--port" if protocol == "grpc" else "--rest_api_port"
    port = address.rsplit(":", 1)[-1]
    return ServingError(
        f"cannot reach TF Serving at {address} ({reason}): is "
        f"tensorflow_model_server running with {flag}={port}? ({protocol} client)")


def deadline_exceeded(address, timeout):
    return ServingError(
        f"TF Serving at {address} did not answer within the timeout of {timeout:g} s "
        f"(deadline exceeded): pass a larger timeout, e.g. timeout={max(timeout * 10, 30):g} "
        "(tfbert predict --timeout), for big batches or a server still warming up.")


def model_not_found(address, model_name, version, server_message):
    which = f"model {model_name!r}" + ("" if version is None else f" version {version}")
    return ServingError(
        f"TF Serving at {address} has no {which} (server says: {server_message!r}): check "
        "the model name (--model-name) and that this version is under the server's "
        "--model_base_path or in its --model_config_file.")


def rejected(address, model_name, signature, input_names, server_message):
    return ServingError(
        f"TF Serving at {address} refused the request to model {model_name!r}, signature "
        f"{signature!r}, inputs {sorted(input_names)}: {server_message!r}. Check that the "
        "signature exists in the export (metadata() lists them) and takes these inputs.")


def server_failed(address, what, server_message):
    return ServingError(f"TF Serving at {address} failed ({what}): {server_message!r}")
