"""Runs SavedModel signatures the way TensorFlow Serving does, in TF Serving's runtime.

    .venv-tf220/bin/python tests/serving_compat/run_signatures.py JOB.json RESULT.npz

Meant for a virtual environment with only tensorflow==2.20.* and
tensorflow-text==2.20.* (what the newest TF Serving release bundles): it imports
neither tfbert nor keras. For each model in the job it

1. lists every op type in the exported graph and its function library, and reports
   those that TensorFlow 2.20 with TF Text 2.20 does not register;
2. loads the model with `tf.compat.v1.saved_model.loader.load(sess, ["serve"], dir)`
   and runs each requested signature in a Session, feeding and fetching tensors by
   the names in its SignatureDef.

JOB.json: {"models": [{"key": str, "dir": str, "calls": [{"signature": str,
           "inputs": {input key: name of an array in "inputs"}, "batch_size": 64,
           "key": str (optional: the results' key, default the model's)}]}],
           "inputs": {name: {"dtype": "string", "base64": [...]} or
                            {"dtype": "int32", "values": nested lists}}}
           (a string array may carry a "shape": the base64 list is its flattened values)
RESULT.npz: "<key>/<signature>/<output key>" -> array; and "report" (JSON): versions,
           the op types of each model, the unregistered ones, and where ops come from.
           A model's calls all run in one Session (it is loaded once): calls of one
           signature on other inputs name a key of their own.
"""

import base64
import json
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session


def registered_ops():
    """Every op type the runtime has kernels' definitions for (the C API's list)."""
    op_list = op_def_pb2.OpList.FromString(
        pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    return {op.name for op in op_list.op}


CORE_OPS = registered_ops()
import tensorflow_text  # noqa: E402  (registers TF Text's ops; imported after counting core ops)

ALL_OPS = registered_ops()
TEXT_OPS = ALL_OPS - CORE_OPS


def decode_array(array):
    # Strings travel as base64: they may hold invalid UTF-8 or end in NUL bytes.
    if array["dtype"] == "string":
        values = np.array([base64.b64decode(item) for item in array["base64"]], dtype=object)
        return values.reshape(array.get("shape", values.shape))
    return np.array(array["values"], dtype=array["dtype"])


def op_types(saved_model_dir):
    saved_model = saved_model_pb2.SavedModel.FromString(
        open(f"{saved_model_dir}/saved_model.pb", "rb").read())
    types = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        types.update(node.op for node in graph.node)
        for function in graph.library.function:
            types.update(node.op for node in function.node_def)
    # Calls to functions of the library appear as ops named after the function.
    functions = {f.signature.name for m in saved_model.meta_graphs for f in m.graph_def.library.function}
    return sorted(types - functions)


def run_signatures(model, inputs):
    outputs = {}
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], model["dir"])
        for call in model["calls"]:
            signature = meta_graph.signature_def[call["signature"]]
            fetch = {key: info.name for key, info in signature.outputs.items()}
            arrays = {signature.inputs[key].name: inputs[name] for key, name in call["inputs"].items()}
            count = len(next(iter(arrays.values())))
            # Requests of at most `batch_size` rows, as clients send them.
            batches = []
            for start in range(0, max(count, 1), call.get("batch_size", 64)):
                feed = {name: array[start:start + call.get("batch_size", 64)]
                        for name, array in arrays.items()}
                batches.append(session.run(fetch, feed_dict=feed))
            prefix = f"{call.get('key', model['key'])}/{call['signature']}/"
            if prefix + "method_name" in outputs:
                raise ValueError(f"two calls of {model['key']} answer as {prefix}: give one a key")
            for key in fetch:
                value = np.concatenate(padded([batch[key] for batch in batches]))
                if value.dtype == object:  # label names: plain bytes arrays load without pickle
                    value = value.astype(bytes)
                outputs[prefix + key] = value
            outputs[prefix + "method_name"] = np.array(signature.method_name)
    return outputs


def padded(arrays):
    """Requests' outputs made one width: a tagger's entity columns are as many as the
    request's most entities. Padded as the signatures pad: b"" for strings, -1 else."""
    if len(arrays) < 2 or arrays[0].ndim < 2:
        return arrays
    width = max(array.shape[1] for array in arrays)
    fill = b"" if arrays[0].dtype == object else -1
    return [np.concatenate([array, np.full((array.shape[0], width - array.shape[1], *array.shape[2:]),
                                           fill, array.dtype)], axis=1) for array in arrays]


def main(job_path, result_path):
    job = json.load(open(job_path))
    inputs = {name: decode_array(array) for name, array in job["inputs"].items()}
    results = {}
    report = {"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
              "models": {}}
    for model in job["models"]:
        types = op_types(model["dir"])
        unregistered = [t for t in types if t not in ALL_OPS]
        report["models"][model["key"]] = {
            "ops": types, "unregistered": unregistered,
            "tf_text_ops": [t for t in types if t in TEXT_OPS],
        }
        if not unregistered:  # else loading fails; the report says why
            results.update(run_signatures(model, inputs))
    # The test checks that no tfbert code ran here. (Keras cannot be checked the same
    # way: `import tensorflow` 2.20 itself loads the keras package for tf.keras. This
    # file never uses it, and nothing in the graphs can: they are plain TF ops.)
    report["imported"] = sorted(name for name in ("tfbert",) if name in sys.modules)
    results["report"] = np.array(json.dumps(report))
    np.savez(result_path, **results)


if __name__ == "__main__":
    main(*sys.argv[1:3])
