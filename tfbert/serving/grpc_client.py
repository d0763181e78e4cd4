"""A client for TF Serving's gRPC PredictionService (port 8500 by default).

    client = GrpcClient("localhost:8500", "sentiment")
    client.predict(["a gripping film"])   # {"label": array(["positive"]), "probabilities": ...}
    client.classify(["a gripping film"])  # [[("negative", 0.03), ("positive", 0.97)]]
"""

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfbert.text.offsets import with_char_offsets
from tfbert.serving import errors, signatures
from tfbert.serving.inputs import check_address, input_names, text_and_pair_batches

# Long texts in big batches exceed gRPC's 4 MB default; TF Serving accepts more.
_MESSAGE_LIMIT = 256 * 1024 * 1024


def decode_strings(array):
    """An object array of bytes (tf.make_ndarray of a string tensor) -> str array."""
    if array.dtype != object:
        return array
    texts = [item.decode("utf-8", "replace") for item in array.ravel()]
    return np.array(texts, dtype=str).reshape(array.shape)


def text_example(text, text_pair=None):
    """A tf.Example with bytes features "text" (and "text_pair"), as classify and
    regress signatures parse them."""
    example = tf.train.Example()
    example.features.feature["text"].bytes_list.value.append(text)
    if text_pair is not None:
        example.features.feature["text_pair"].bytes_list.value.append(text_pair)
    return example


class GrpcClient:
    def __init__(self, address, model_name, version=None, timeout=10.0):
        self.address = check_address(address)
        self.model_name = model_name
        self.version = None if version is None else int(version)
        self.timeout = float(timeout)
        self._channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", _MESSAGE_LIMIT),
            ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
        ])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- requests

    def predict(self, texts, text_pairs=None, signature="serving_default"):
        """Texts (and pairs) -> {output name: array}; string outputs as str."""
        texts, text_pairs = text_and_pair_batches(texts, text_pairs)
        inputs = {"text": texts}
        if text_pairs is not None:
            inputs["text_pair"] = text_pairs
        # A tagger answers byte offsets (any language can slice its bytes); Python slices str.
        return with_char_offsets(self._predict(signature, {
            key: tf.make_tensor_proto(np.array(values, dtype=object).reshape(-1), dtype=tf.string)
            for key, values in inputs.items()
        }), texts)

    def predict_ids(self, input_ids, segment_ids, input_mask):
        """Token ids [batch, length] (e.g. from a BertTokenizer) -> outputs as predict."""
        inputs = {"input_ids": input_ids, "segment_ids": segment_ids, "input_mask": input_mask}
        return self._predict("predict_ids", {
            key: tf.make_tensor_proto(np.asarray(value, np.int32)) for key, value in inputs.items()
        })

    def classify(self, texts, text_pairs=None):
        """Texts -> per text, [(label, probability)] for every label in output order."""
        response = self._examples_call(self._stub.Classify, classification_pb2.ClassificationRequest(),
                                       "classify", texts, text_pairs)
        return [[(item.label, item.score) for item in classifications.classes]
                for classifications in response.result.classifications] if response else []

    def regress(self, texts, text_pairs=None):
        """Texts (pairs for pair tasks) -> one float score each."""
        response = self._examples_call(self._stub.Regress, regression_pb2.RegressionRequest(),
                                       "regress", texts, text_pairs)
        return [item.value for item in response.result.regressions] if response else []

    def _examples_call(self, method, request, signature, texts, text_pairs):
        """A Classify or Regress call with the texts as tf.Examples; None for no texts."""
        texts, text_pairs = text_and_pair_batches(texts, text_pairs)
        if not texts:
            return None  # TF Serving refuses a Classify/Regress request with no examples
        self._fill_spec(request.model_spec, signature)
        for i, text in enumerate(texts):
            example = text_example(text, None if text_pairs is None else text_pairs[i])
            request.input.example_list.examples.append(example)
        return self._call(method, request, signature, input_names(text_pairs))

    def metadata(self):
        """{signature name: {"inputs": {key: {"dtype", "shape"}}, "outputs": ..., "method_name"}}."""
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._fill_spec(request.model_spec, None)
        request.metadata_field.append("signature_def")
        response = self._call(self._stub.GetModelMetadata, request, "metadata", [])
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return signatures.describe(json_format.MessageToDict(
            signature_map, preserving_proto_field_name=True))

    # --------------------------------------------------------------- helpers

    def _fill_spec(self, model_spec, signature):
        model_spec.name = self.model_name
        if self.version is not None:
            model_spec.version.value = self.version
        if signature is not None:
            model_spec.signature_name = signature

    def _predict(self, signature, tensors):
        request = predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec, signature)
        for key, proto in tensors.items():
            request.inputs[key].CopyFrom(proto)
        response = self._call(self._stub.Predict, request, signature, list(tensors))
        return {key: decode_strings(tf.make_ndarray(proto)) for key, proto in response.outputs.items()}

    def _call(self, method, request, signature, names):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise self._error(error, signature, names) from None

    def _error(self, error, signature, names):
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            refused = "refused" in details.lower()
            return errors.unreachable(self.address, "grpc", "connection refused" if refused else details)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return errors.deadline_exceeded(self.address, self.timeout)
        if code == grpc.StatusCode.NOT_FOUND:
            return errors.model_not_found(self.address, self.model_name, self.version, details)
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            return errors.rejected(self.address, self.model_name, signature, names, details)
        return errors.server_failed(self.address, f"{signature}: {code.name}", details)
