"""Signature descriptions from model metadata, the same for both clients.

TF Serving's metadata is a SignatureDefMap; the REST API gives it as JSON with proto
field names, and the gRPC client turns its proto into the same JSON form first, so
one function reads both.
"""

# TensorFlow's names for the DataType enum values whose short name differs.
_DTYPE_NAMES = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16"}


def dtype_name(enum_name):
    """'DT_STRING' -> 'string', 'DT_FLOAT' -> 'float32' (as tf.DType.name)."""
    return _DTYPE_NAMES.get(enum_name, enum_name.removeprefix("DT_").lower())


def shape(tensor_shape):
    """TensorShapeProto as JSON -> list with None for unknown sizes; None if no rank."""
    if tensor_shape.get("unknown_rank"):
        return None
    # int64 sizes come as JSON strings; a size of 0 is left out of the JSON.
    return [None if int(dim.get("size", 0)) < 0 else int(dim.get("size", 0))
            for dim in tensor_shape.get("dim", [])]


def describe(signature_def_map):
    """{"signature_def": {name: SignatureDef JSON}} -> {name: {"inputs", "outputs",
    "method_name"}} with {tensor key: {"dtype", "shape"}} for inputs and outputs."""
    described = {}
    for name, signature in signature_def_map.get("signature_def", {}).items():
        described[name] = {
            side: {key: {"dtype": dtype_name(info.get("dtype", "DT_INVALID")),
                         "shape": shape(info.get("tensor_shape", {}))}
                   for key, info in signature.get(side, {}).items()}
            for side in ("inputs", "outputs")
        }
        described[name]["method_name"] = signature.get("method_name", "")
    return described
