"""A client for TF Serving's REST API (port 8501 by default), standard library only.

    client = RestClient("localhost:8501", "sentiment")             # format="row"
    client.predict(["a gripping film"])   # {"label": array(["positive"]), "probabilities": ...}

Requests follow TF Serving's documented JSON: `instances` (row format) or `inputs`
(columnar) for :predict, `examples` for :classify and :regress. Texts that are not
valid UTF-8 go as {"b64": ...}, which TF Serving decodes to the raw bytes.
"""

import base64
import http.client
import json
import socket
import urllib.error
import urllib.request

import numpy as np

from tfbert.text.offsets import with_char_offsets
from tfbert.serving import errors, signatures
from tfbert.serving.inputs import check_address, input_names, text_and_pair_batches


def json_text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


def unwrap_bytes(value):
    """Outputs named *_bytes come back as {"b64": ...}; decode them to str."""
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"]).decode("utf-8", "replace")
    if isinstance(value, list):
        return [unwrap_bytes(item) for item in value]
    return value


class RestClient:
    def __init__(self, address, model_name, version=None, timeout=10.0, format="row"):
        if format not in ("row", "columnar"):
            raise errors.ServingError(f"format {format!r} is not 'row' or 'columnar'.")
        self.address = check_address(address)
        self.model_name = model_name
        self.version = None if version is None else int(version)
        self.timeout = float(timeout)
        self.format = format
        self._signatures = None  # metadata, fetched once when a response needs it

    @property
    def url(self):
        version = "" if self.version is None else f"/versions/{self.version}"
        return f"http://{self.address}/v1/models/{self.model_name}{version}"

    # -------------------------------------------------------------- requests

    def predict(self, texts, text_pairs=None, signature="serving_default"):
        """Texts (and pairs) -> {output name: array}; string outputs as str."""
        texts, text_pairs = text_and_pair_batches(texts, text_pairs)
        columns = {"text": [json_text(t) for t in texts]}
        if text_pairs is not None:
            columns["text_pair"] = [json_text(t) for t in text_pairs]
        # A tagger answers byte offsets (any language can slice its bytes); Python slices str.
        return with_char_offsets(self._predict(signature, columns, len(texts)), texts)

    def predict_ids(self, input_ids, segment_ids, input_mask):
        """Token ids [batch, length] (e.g. from a BertTokenizer) -> outputs as predict."""
        columns = {key: np.asarray(value, np.int32).tolist() for key, value in
                   {"input_ids": input_ids, "segment_ids": segment_ids, "input_mask": input_mask}.items()}
        return self._predict("predict_ids", columns, len(columns["input_ids"]))

    def classify(self, texts, text_pairs=None):
        """Texts -> per text, [(label, probability)] for every label in output order."""
        results = self._examples_request("classify", texts, text_pairs)
        return [[(label, float(score)) for label, score in row] for row in results]

    def regress(self, texts, text_pairs=None):
        """Texts (pairs for pair tasks) -> one float score each."""
        return [float(value) for value in self._examples_request("regress", texts, text_pairs)]

    def metadata(self):
        """{signature name: {"inputs": {key: {"dtype", "shape"}}, "outputs": ..., "method_name"}}."""
        response = self._request(self.url + "/metadata", None, "metadata", [])
        return signatures.describe(response["metadata"]["signature_def"])

    # --------------------------------------------------------------- helpers

    def _examples_request(self, signature, texts, text_pairs):
        texts, text_pairs = text_and_pair_batches(texts, text_pairs)
        if not texts:
            return []  # TF Serving refuses an empty 'examples' list
        examples = [{"text": json_text(text)} for text in texts]
        for example, pair in zip(examples, text_pairs or ()):
            example["text_pair"] = json_text(pair)
        body = {"signature_name": signature, "examples": examples}
        names = input_names(text_pairs)
        return self._request(f"{self.url}:{signature}", body, signature, names)["results"]

    def _predict(self, signature, columns, batch_size):
        # TF Serving refuses an empty 'instances' list; the columnar form carries an
        # empty batch, so an empty request always goes columnar.
        if self.format == "row" and batch_size:
            rows = [{key: values[i] for key, values in columns.items()} for i in range(batch_size)]
            body = {"signature_name": signature, "instances": rows}
            predictions = self._request(f"{self.url}:predict", body, signature, list(columns))["predictions"]
            if predictions and isinstance(predictions[0], dict):
                outputs = {key: [row[key] for row in predictions] for key in predictions[0]}
            else:
                outputs = {self._single_output(signature): predictions}
        else:
            body = {"signature_name": signature, "inputs": columns}
            outputs = self._request(f"{self.url}:predict", body, signature, list(columns))["outputs"]
            if not isinstance(outputs, dict):
                outputs = {self._single_output(signature): outputs}
        described = self._signature(signature)["outputs"]
        return {key: self._array(unwrap_bytes(values), described.get(key))
                for key, values in outputs.items()}

    def _signature(self, signature):
        if self._signatures is None:
            self._signatures = self.metadata()
        return self._signatures.get(signature, {"outputs": {}})

    def _single_output(self, signature):
        # With one output TF Serving leaves its name out of the JSON.
        (name,) = self._signature(signature)["outputs"] or ("output",)
        return name

    @staticmethod
    def _array(values, described):
        """JSON lists -> arrays with the signature's dtype (as the gRPC client gives)."""
        if described is None:
            return np.asarray(values)
        dtype = str if described["dtype"] == "string" else np.dtype(described["dtype"])
        array = np.asarray(values, dtype=dtype)
        known = described["shape"] or []
        if array.size == 0 and all(size is not None for size in known[1:]):
            array = array.reshape([0] + known[1:])  # JSON cannot tell [] from [[]]
        return array

    def _request(self, url, body, signature, names):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise self._http_error(error, signature, names) from None
        except urllib.error.URLError as error:
            raise self._connection_error(error.reason) from None
        except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as error:
            raise self._connection_error(error) from None

    def _connection_error(self, reason):
        if isinstance(reason, ConnectionRefusedError):
            return errors.unreachable(self.address, "rest")
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return errors.deadline_exceeded(self.address, self.timeout)
        return errors.unreachable(self.address, "rest", str(reason))

    def _http_error(self, error, signature, names):
        try:
            message = json.loads(error.read()).get("error", "")
        except (ValueError, AttributeError, OSError):
            message = error.reason
        if error.code == 404:
            return errors.model_not_found(self.address, self.model_name, self.version, message)
        if error.code == 400:
            return errors.rejected(self.address, self.model_name, signature, names, message)
        return errors.server_failed(self.address, f"{signature}: HTTP {error.code}", message)
