"""A stand-in for tensorflow_model_server, for tests only: gRPC and REST on loopback.

It serves <base_dir>/<model_name>/<version>/ the way TF Serving does: each version is
loaded with the TF1 SavedModel loader (tag "serve") into a Session of its own Graph,
so the variables are whatever the checkpoint's restore op writes, and every request
runs by the SignatureDef's tensor names. Classify and Regress run only on signatures
with TF Serving's method names. Errors carry TF Serving's status codes: NOT_FOUND for
an unknown model or version, INVALID_ARGUMENT for bad input (HTTP 404 / 400 with a
JSON {"error": ...} body).

Nothing from tfbert or Keras is imported here: the server sees only the export.

    with start_test_server(base_dir, "sentiment") as server:
        server.grpc_address, server.rest_address    # "127.0.0.1:PORT"
"""

import json
import pathlib
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving links them in)
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving_test_json import (
    BadJson,
    BadPath,
    examples_from_json,
    outputs_to_json,
    parse_path,
    tensors_from_json,
)

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
HTTP_STATUS = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400,
               grpc.StatusCode.FAILED_PRECONDITION: 400}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class ServingFailure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message):
    return ServingFailure(grpc.StatusCode.INVALID_ARGUMENT, message)


class LoadedVersion:
    """One version: a Session holding the SavedModel's graph, run by signature."""

    def __init__(self, path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(path))
        self.signatures = meta_graph.signature_def

    def signature(self, name):
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise ServingFailure(grpc.StatusCode.FAILED_PRECONDITION,
                                 f'Serving signature key "{name}" not found.')
        return self.signatures[name]

    def run(self, signature, inputs):
        """{input key: ndarray} -> {output key: ndarray}, checked against the signature."""
        sent, expected = set(inputs), set(signature.inputs)
        if sent != expected:
            raise invalid(f"input size does not match signature: {len(sent)}!={len(expected)} "
                          f"len({sorted(sent)}) != len({sorted(expected)}). Sent extra: "
                          f"{sorted(sent - expected)}. Missing but required: {sorted(expected - sent)}.")
        for i, (key, value) in enumerate(sorted(inputs.items())):
            wanted = tf.as_dtype(signature.inputs[key].dtype)
            given = tf.string if value.dtype == object else tf.as_dtype(value.dtype)
            if given != wanted:
                raise invalid(f"Expects arg[{i}] ({key}) to be {wanted.name} but "
                              f"{given.name} is provided")
        feeds = {self.graph.get_tensor_by_name(signature.inputs[key].name): value
                 for key, value in inputs.items()}
        fetches = {key: self.graph.get_tensor_by_name(info.name)
                   for key, info in signature.outputs.items()}
        try:
            return self.session.run(fetches, feed_dict=feeds)
        except tf.errors.OpError as error:
            raise ServingFailure(_CODES.get(error.error_code, grpc.StatusCode.INTERNAL),
                                 error.message) from None

    def run_examples(self, name, method, serialized):
        """Classify/Regress: serialized tf.Examples into a signature of that method."""
        signature = self.signature(name)
        if signature.method_name != method:
            kind = "classification" if method == CLASSIFY_METHOD else "regression"
            raise invalid(f"Expected {kind} signature method_name to be {method}. "
                          f"Was: {signature.method_name}")
        if len(signature.inputs) != 1:
            raise invalid(f"Expected one input Tensor, got {len(signature.inputs)}.")
        (key,) = signature.inputs
        return self.run(signature, {key: np.array(serialized, dtype=object).reshape(-1)})

    def close(self):
        self.session.close()


class ModelStore:
    """The versions under base_dir/model_name, loaded on first request (the latest at start)."""

    def __init__(self, base_dir, model_name):
        self.model_name = model_name
        self.model_dir = pathlib.Path(base_dir) / model_name
        self.loaded = {}
        self.lock = threading.Lock()
        self.get(model_name)  # fail now, not on the first request, if it cannot load

    def versions(self):
        return sorted(int(p.name) for p in self.model_dir.glob("*")
                      if p.name.isdigit() and (p / "saved_model.pb").exists())

    def get(self, name, version=None):
        """(version, LoadedVersion); version None: the highest."""
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        versions = self.versions() if name == self.model_name else []
        version = max(versions, default=None) if version is None else version
        if version not in versions:
            raise ServingFailure(grpc.StatusCode.NOT_FOUND,
                                 f"Servable not found for request: {request}")
        with self.lock:
            if version not in self.loaded:
                self.loaded[version] = LoadedVersion(self.model_dir / str(version))
        return version, self.loaded[version]

    def close(self):
        for loaded in self.loaded.values():
            loaded.close()


def serialized_examples(model_input):
    """A tensorflow.serving.Input -> serialized tf.Examples (context merged in, as TF
    Serving does: the context's bytes then the example's, which protobuf merges)."""
    if model_input.HasField("example_list_with_context"):
        with_context = model_input.example_list_with_context
        context = with_context.context.SerializeToString()
        examples = [context + example.SerializeToString() for example in with_context.examples]
    else:
        examples = [example.SerializeToString() for example in model_input.example_list.examples]
    if not examples:
        raise invalid("Input is empty.")
    return examples


# ------------------------------------------------------------------ the answers

class Answers:
    """The four PredictionService calls on protos; the gRPC and REST fronts share it."""

    def __init__(self, store):
        self.store = store
        self.delay = 0.0  # seconds each call waits first (to test clients' deadlines)

    def _version(self, model_spec):
        time.sleep(self.delay)
        version = model_spec.version.value if model_spec.HasField("version") else None
        return self.store.get(model_spec.name, version)

    def predict(self, request):
        version, loaded = self._version(request.model_spec)
        signature = loaded.signature(request.model_spec.signature_name)
        outputs = loaded.run(signature, {key: tf.make_ndarray(proto)
                                         for key, proto in request.inputs.items()})
        response = predict_pb2.PredictResponse()
        self._spec(response.model_spec, request.model_spec, version, DEFAULT_SIGNATURE)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def classify(self, request):
        version, loaded = self._version(request.model_spec)
        outputs = loaded.run_examples(request.model_spec.signature_name, CLASSIFY_METHOD,
                                      serialized_examples(request.input))
        response = classification_pb2.ClassificationResponse()
        self._spec(response.model_spec, request.model_spec, version, DEFAULT_SIGNATURE)
        for classes, scores in zip(outputs["classes"], outputs["scores"]):
            row = response.result.classifications.add()
            for label, score in zip(classes, scores):
                row.classes.add(label=label.decode("utf-8", "replace"), score=float(score))
        return response

    def regress(self, request):
        version, loaded = self._version(request.model_spec)
        outputs = loaded.run_examples(request.model_spec.signature_name, REGRESS_METHOD,
                                      serialized_examples(request.input))
        response = regression_pb2.RegressionResponse()
        self._spec(response.model_spec, request.model_spec, version, DEFAULT_SIGNATURE)
        for value in outputs["outputs"].reshape(-1):
            response.result.regressions.add(value=float(value))
        return response

    def metadata(self, request):
        version, loaded = self._version(request.model_spec)
        for field in request.metadata_field:
            if field != "signature_def":
                raise invalid(f"Metadata field {field} is not supported")
        if list(request.metadata_field) != ["signature_def"]:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in loaded.signatures.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        self._spec(response.model_spec, request.model_spec, version, "")
        response.metadata["signature_def"].Pack(signature_map)
        return response

    @staticmethod
    def _spec(spec, requested, version, default_signature):
        spec.name = requested.name
        spec.version.value = version
        if default_signature:
            spec.signature_name = requested.signature_name or default_signature


class GrpcService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, answers):
        self.answers = answers

    def _answer(self, method, request, context):
        try:
            return method(request)
        except ServingFailure as failure:
            context.abort(failure.code, failure.message)

    def Predict(self, request, context):  # noqa: N802  (names from the service definition)
        return self._answer(self.answers.predict, request, context)

    def Classify(self, request, context):  # noqa: N802
        return self._answer(self.answers.classify, request, context)

    def Regress(self, request, context):  # noqa: N802
        return self._answer(self.answers.regress, request, context)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return self._answer(self.answers.metadata, request, context)


# ------------------------------------------------------------------------ REST

def rest_handler(answers):
    """A request handler class for TF Serving's REST paths, answering with `answers`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def _handle(self, http_method):
            try:
                self._reply(200, self._route(http_method))
            except ServingFailure as failure:
                self._reply(HTTP_STATUS.get(failure.code, 500), {"error": failure.message})
            except BadJson as error:
                self._reply(400, {"error": str(error)})
            except BadPath as error:
                self._reply(404, {"error": str(error)})
            except Exception as error:  # a bug here: tell the client, as a server would
                self._reply(500, {"error": f"{type(error).__name__}: {error}"})

        def _route(self, http_method):
            name, version, verb = parse_path(http_method, self.path)
            spec = predict_pb2.PredictRequest().model_spec  # a ModelSpec to fill
            spec.name = name
            if version is not None:
                spec.version.value = version
            if verb == "metadata":
                request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
                request.model_spec.CopyFrom(spec)
                return json_format.MessageToDict(answers.metadata(request),
                                                 preserving_proto_field_name=True)
            body = self._body()
            if not isinstance(body.get("signature_name", ""), str):
                raise invalid("'signature_name' key must be a string value.")
            spec.signature_name = body.get("signature_name", "")
            if verb == "predict":
                return self._predict(spec, body)
            request = (classification_pb2.ClassificationRequest() if verb == "classify"
                       else regression_pb2.RegressionRequest())
            request.model_spec.CopyFrom(spec)
            examples_from_json(body, request.input)
            if verb == "classify":
                result = answers.classify(request).result
                return {"results": [[[c.label, c.score] for c in row.classes]
                                    for row in result.classifications]}
            return {"results": [r.value for r in answers.regress(request).result.regressions]}

        def _predict(self, spec, body):
            _, loaded = answers.store.get(spec.name, spec.version.value if spec.HasField("version") else None)
            signature = loaded.signature(spec.signature_name)
            tensors, row_format = tensors_from_json(body, signature)
            request = predict_pb2.PredictRequest()
            request.model_spec.CopyFrom(spec)
            for key, value in tensors.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=tf.as_dtype(
                    signature.inputs[key].dtype)))
            response = answers.predict(request)
            outputs = {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}
            return outputs_to_json(outputs, row_format)

        def _body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw)
            except ValueError as error:
                raise invalid(f"JSON Parse error: {error}") from None
            if not isinstance(body, dict):
                raise invalid("JSON Value: request body is not object")
            return body

        def _reply(self, status, value):
            data = json.dumps(value, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): nobody to answer

    return Handler


# ---------------------------------------------------------------------- server

class TestServer:
    __test__ = False  # not a pytest test class

    def __init__(self, base_dir, model_name):
        self.store = ModelStore(base_dir, model_name)
        self.answers = Answers(self.store)
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            GrpcService(self.answers), self.grpc_server)
        grpc_port = self.grpc_server.add_insecure_port("127.0.0.1:0")
        self.http_server = ThreadingHTTPServer(("127.0.0.1", 0), rest_handler(self.answers))
        self.http_server.daemon_threads = True
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.rest_address = f"127.0.0.1:{self.http_server.server_address[1]}"
        self.grpc_server.start()
        self._http_thread = threading.Thread(target=self.http_server.serve_forever, daemon=True)
        self._http_thread.start()

    @property
    def delay(self):
        return self.answers.delay

    @delay.setter
    def delay(self, seconds):
        self.answers.delay = seconds

    def stop(self):
        self.grpc_server.stop(grace=None)
        self.http_server.shutdown()
        self.http_server.server_close()
        self._http_thread.join()
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_test_server(base_dir, model_name):
    """Serves base_dir/model_name over gRPC and REST on free loopback ports."""
    return TestServer(base_dir, model_name)
