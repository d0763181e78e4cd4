"""TF Serving's REST JSON, both ways, for the test server (tests/serving_test_server.py).

Follows the documented API: POST /v1/models/NAME[/versions/N]:predict with
"instances" (row format, a non-empty list) or "inputs" (columnar), answered with
"predictions" or "outputs" (an output's name is left out when it is the only one);
:classify and :regress with "examples" (and an optional "context"); GET .../metadata.
Strings may be sent as {"b64": ...}; outputs whose name ends in "_bytes" come back so.
"""

import base64
import json
import re

import numpy as np
import tensorflow as tf

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<verb>:predict|:classify|:regress|/metadata)$")


class BadJson(ValueError):
    """The request body does not follow the API (HTTP 400)."""


class BadPath(LookupError):
    """No such endpoint (HTTP 404)."""


def parse_path(http_method, path):
    """'/v1/models/m/versions/2:predict' -> ("m", 2, "predict")."""
    match = _PATH.match(path)
    verb = match and match["verb"][1:]
    if not match or (verb == "metadata") != (http_method == "GET"):
        raise BadPath(f"Malformed request: {http_method} {path}")
    return match["name"], None if match["version"] is None else int(match["version"]), verb


def is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _string_values(value, key):
    if isinstance(value, list):
        return [_string_values(item, key) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if is_b64(value):
        return base64.b64decode(value["b64"])
    raise BadJson(f"Input {key}: expecting a string or {{\"b64\": ...}}, got {json.dumps(value)}")


def to_array(values, dtype_enum, key):
    """JSON values of one input -> an ndarray of the signature's dtype."""
    dtype = tf.as_dtype(dtype_enum)
    try:
        if dtype == tf.string:
            array = np.array(_string_values(values, key), dtype=object)
            if any(not isinstance(item, bytes) for item in array.ravel()):
                raise ValueError("rows of different shapes")
            return array
        return np.asarray(values, dtype=dtype.as_numpy_dtype)
    except (ValueError, TypeError) as error:
        raise BadJson(f"Input {key}: cannot be read as a {dtype.name} tensor ({error})") from None


def tensors_from_json(body, signature):
    """A :predict body -> ({input key: ndarray}, whether it was row format)."""
    inputs = signature.inputs
    if "instances" in body and "inputs" in body:
        raise BadJson("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise BadJson("Excepting 'instances' to be an list/array")
        if not rows:
            raise BadJson("No values in 'instances' array")
        named = isinstance(rows[0], dict) and not is_b64(rows[0])
        if not named and len(inputs) > 1:
            raise BadJson("instances is a plain list, but expecting list of objects as multiple "
                          "input tensors required as per tensorinfo_map")
        columns = {key: [] for key in inputs}
        for i, row in enumerate(rows):
            if not named:
                columns[next(iter(inputs))].append(row)
            elif not isinstance(row, dict) or set(row) != set(inputs):
                raise BadJson(f"Failed to process element: {i} of 'instances' list. JSON object: "
                              f"{json.dumps(row)} keys must be equal to: {','.join(sorted(inputs))}")
            else:
                for key in inputs:
                    columns[key].append(row[key])
        return {key: to_array(values, inputs[key].dtype, key) for key, values in columns.items()}, True
    if "inputs" in body:
        value = body["inputs"]
        if not isinstance(value, dict) or is_b64(value):
            if len(inputs) > 1:
                raise BadJson("inputs is a plain value/list, but expecting an object as multiple "
                              "input tensors required as per tensorinfo_map")
            value = {next(iter(inputs)): value}
        for key in inputs:
            if key not in value:
                raise BadJson(f"Missing named input: {key} in 'inputs' object.")
        return {key: to_array(value[key], inputs[key].dtype, key) for key in inputs}, False
    raise BadJson("Missing 'inputs' or 'instances' key")


def _output_values(value, as_bytes):
    if isinstance(value, list):
        return [_output_values(item, as_bytes) for item in value]
    if isinstance(value, bytes):
        if as_bytes:
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", "replace")
    return value


def output_json(value, key):
    """An output (array, numpy scalar or bytes) as JSON values."""
    value = value.tolist() if hasattr(value, "tolist") else value
    return _output_values(value, key.endswith("_bytes"))


def outputs_to_json(outputs, row_format):
    """{output key: ndarray} -> the :predict answer in the request's format."""
    if not row_format:
        if len(outputs) == 1:
            ((key, value),) = outputs.items()
            return {"outputs": output_json(value, key)}
        return {"outputs": {key: output_json(value, key) for key, value in outputs.items()}}
    sizes = {key: value.shape[0] if value.ndim else None for key, value in outputs.items()}
    if None in sizes.values() or len(set(sizes.values())) > 1:
        raise BadJson(f"Outputs have no common batch size for the row format: {sizes}")
    if len(outputs) == 1:
        ((key, value),) = outputs.items()
        return {"predictions": output_json(value, key)}
    batch = next(iter(sizes.values()), 0)
    return {"predictions": [{key: output_json(value[i], key) for key, value in outputs.items()}
                            for i in range(batch)]}


def _add_value(feature, name, value):
    if isinstance(value, bool) or isinstance(value, int):
        kind, value = "int64_list", int(value)
    elif isinstance(value, float):
        kind = "float_list"
    elif isinstance(value, str) or is_b64(value):
        kind, value = "bytes_list", _string_values(value, name)
    else:
        raise BadJson(f"Feature: {name} has element with unexpected JSON type: {json.dumps(value)}")
    if feature.WhichOneof("kind") not in (None, kind):
        raise BadJson(f"Unexpected element type in feature: {name}")
    getattr(feature, kind).value.append(value)


def _fill_example(example, values):
    if not isinstance(values, dict):
        raise BadJson(f"Example must be JSON object but got JSON {json.dumps(values)}")
    for name, content in values.items():
        for value in content if isinstance(content, list) else [content]:
            _add_value(example.features.feature[name], name, value)


def examples_from_json(body, model_input):
    """A :classify/:regress body -> the tensorflow.serving.Input it describes."""
    examples = body.get("examples")
    if examples is None:
        raise BadJson("When method is classify, key 'examples' is expected and was not found")
    if not isinstance(examples, list):
        raise BadJson("Expecting 'examples' value to be an list/array")
    if not examples:
        raise BadJson("'examples' value is an empty array")
    if "context" in body:
        target = model_input.example_list_with_context
        _fill_example(target.context, body["context"])
    else:
        target = model_input.example_list
    for values in examples:
        _fill_example(target.examples.add(), values)
