"""The TF Serving clients against a test server that loads exports as TF Serving does
(tests/serving_test_server.py): answers equal the model's own, errors say what to fix."""

import ast
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from serving_test_server import start_test_server
from tfbert import cli
from tfbert.export import export_for_serving
from tfbert.recipe import load_recipe
from tfbert.run_directory import RunDirectory
from tfbert.serving import GrpcClient, RestClient, ServingError, make_client
from tfbert.tasks import TextClassifier, TextRegressor
from tiny_models import assert_rows_match, spread, tiny

TEXTS = ["good movie", "", "the plot was very very bad " * 40, "awful film", "a great plot"]
BROKEN_UTF8 = b"\xff\xfe good \xc3"
FIRST = ["good movie", "bad film", "great plot"]
SECOND = ["good movie", "good movie", "awful plot"]
PROTOCOLS = ["grpc", "rest-row", "rest-columnar"]


def client_for(server, protocol, model_name, **kwargs):
    if protocol == "grpc":
        return GrpcClient(server.grpc_address, model_name, **kwargs)
    return RestClient(server.rest_address, model_name, format=protocol.split("-")[-1], **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three tiny models exported to one base directory, each behind its own server."""
    base = tmp_path_factory.mktemp("saved_models")
    models = {
        "sentiment": spread(TextClassifier(*tiny(0), ["neg", "pos", "mixed"])),
        "paraphrase": spread(TextClassifier(*tiny(1), ["different", "same", "related"], pair=True)),
        "similarity": spread(TextRegressor(*tiny(2))),
    }
    servers = {}
    for name, model in models.items():
        export_for_serving(model, base, name)
        servers[name] = start_test_server(base, name)
    yield models, servers, base
    for server in servers.values():
        server.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_predict_equals_the_model(served, protocol):
    models, servers, _ = served
    client = client_for(servers["sentiment"], protocol, "sentiment")
    expected = models["sentiment"].predict(TEXTS)
    outputs = client.predict(TEXTS)
    assert sorted(outputs) == ["label", "label_id", "logits", "probabilities"]
    assert outputs["label"].tolist() == expected["label"].tolist()
    np.testing.assert_array_equal(outputs["label_id"], expected["label_id"])
    assert_rows_match(outputs["probabilities"], expected["probabilities"])
    assert outputs["label_id"].dtype == np.int32 and outputs["probabilities"].dtype == np.float32


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_empty_batch_and_broken_utf8(served, protocol):
    models, servers, _ = served
    client = client_for(servers["sentiment"], protocol, "sentiment")
    empty = client.predict([])
    assert empty["label"].shape == (0,) and empty["probabilities"].shape == (0, 3)
    # The export replaces invalid UTF-8 (U+FFFD, then dropped): it reads as what is valid.
    outputs = client.predict([BROKEN_UTF8, b"awful film"])
    expected = models["sentiment"].predict([BROKEN_UTF8.decode("utf-8", "replace"), "awful film"])
    assert_rows_match(outputs["probabilities"], expected["probabilities"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pair_and_regression_predict(served, protocol):
    models, servers, _ = served
    pairs = client_for(servers["paraphrase"], protocol, "paraphrase").predict(FIRST, SECOND)
    expected = models["paraphrase"].predict((FIRST, SECOND))
    assert pairs["label"].tolist() == expected["label"].tolist()
    assert_rows_match(pairs["probabilities"], expected["probabilities"])
    scores = client_for(servers["similarity"], protocol, "similarity").predict(FIRST, SECOND)
    assert list(scores) == ["score"]  # REST leaves a lone output unnamed: the client names it
    assert_rows_match(scores["score"], models["similarity"].predict((FIRST, SECOND))["score"])


@pytest.mark.parametrize("protocol", ["grpc", "rest-row"])
def test_classify_regress_and_predict_ids(served, protocol):
    models, servers, _ = served
    sentiment = client_for(servers["sentiment"], protocol, "sentiment")
    classified = sentiment.classify(TEXTS[:3])
    expected = models["sentiment"].predict(TEXTS[:3])["probabilities"]
    assert [[label for label, _ in row] for row in classified] == [["neg", "pos", "mixed"]] * 3
    assert_rows_match([[score for _, score in row] for row in classified], expected)
    assert sentiment.classify([]) == []
    features = models["sentiment"].tokenizer(TEXTS[:3])
    by_ids = sentiment.predict_ids(features["input_ids"], features["segment_ids"], features["input_mask"])
    assert_rows_match(by_ids["probabilities"], expected)

    similarity = client_for(servers["similarity"], protocol, "similarity")
    assert_rows_match(similarity.regress(FIRST, SECOND),
                      models["similarity"].predict((FIRST, SECOND))["score"])


@pytest.mark.parametrize("protocol", ["grpc", "rest-row"])
def test_metadata_lists_signatures_with_dtypes(served, protocol):
    _, servers, _ = served
    signatures = client_for(servers["paraphrase"], protocol, "paraphrase").metadata()
    assert {"serving_default", "predict_ids", "classify"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["inputs"] == {"text": {"dtype": "string", "shape": [None]},
                                 "text_pair": {"dtype": "string", "shape": [None]}}
    assert default["outputs"]["probabilities"] == {"dtype": "float32", "shape": [None, 3]}
    assert default["outputs"]["label_id"]["dtype"] == "int32"
    assert signatures["predict_ids"]["inputs"]["input_ids"] == {"dtype": "int32", "shape": [None, None]}
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_server_errors_say_what_to_fix(served, protocol):
    _, servers, _ = served
    server = servers["paraphrase"]
    address = server.grpc_address if protocol == "grpc" else server.rest_address
    flag = "--port" if protocol == "grpc" else "--rest_api_port"
    port = closed_port()
    with pytest.raises(ServingError, match=rf"cannot reach TF Serving at 127.0.0.1:{port} "
                                           rf"\(connection refused\).*{flag}={port}"):
        make_client(f"127.0.0.1:{port}", "paraphrase", protocol).predict(["a"], ["b"])
    with pytest.raises(ServingError, match=r"has no model 'nope'.*Latest\(nope\)"):
        make_client(address, "nope", protocol).predict(["a"], ["b"])
    with pytest.raises(ServingError, match=r"has no model 'paraphrase' version 7"):
        make_client(address, "paraphrase", protocol, version=7).predict(["a"], ["b"])
    assert make_client(address, "paraphrase", protocol, version=1).predict(["a"], ["b"])["label"].shape == (1,)
    # A pair model asked without text_pair: the server's words, the signature and inputs.
    with pytest.raises(ServingError, match=r"refused the request to model 'paraphrase', signature "
                                           r"'serving_default', inputs \['text'\]: .*text_pair"):
        make_client(address, "paraphrase", protocol).predict(["a"])


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_deadline_exceeded_names_the_timeout(served, protocol):
    _, servers, _ = served
    server = servers["similarity"]
    address = server.grpc_address if protocol == "grpc" else server.rest_address
    server.delay = 1.0
    try:
        with pytest.raises(ServingError, match=r"within the timeout of 0.2 s \(deadline exceeded\): "
                                               r"pass a larger timeout"):
            make_client(address, "similarity", protocol, timeout=0.2).predict(["a"], ["b"])
    finally:
        server.delay = 0.0


def test_bad_arguments_fail_before_any_request():
    client = RestClient("127.0.0.1:1", "m")  # nothing listens: these must not get that far
    with pytest.raises(ServingError, match=r"single string 'good movie': wrap it in a list, \[text\]"):
        client.predict("good movie")
    with pytest.raises(ServingError, match="texts has 2 items but text_pairs has 1"):
        GrpcClient("127.0.0.1:1", "m").classify(["a", "b"], ["c"])
    with pytest.raises(ServingError, match=r"texts\[1\] is int"):
        client.predict(["a", 3])
    for address in ("localhost", "http://localhost:8501", "localhost:0", "localhost:port"):
        with pytest.raises(ServingError, match=rf"server address '{address}' is not HOST:PORT"):
            make_client(address, "m", "grpc")
    with pytest.raises(ServingError, match="protocol 'http' is not one of: grpc, rest"):
        make_client("localhost:8500", "m", "http")


def imported_packages(path):
    tree = ast.parse(path.read_text())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return {name.split(".")[0] for name in names}


def test_test_server_loads_with_the_v1_loader_alone(served):
    """The server, in a fresh process, answers from the SavedModel alone: a TF1 Session
    of its own Graph, no tfbert imported. (Importing TensorFlow loads Keras itself, so
    for Keras the check is on the server's own imports.)"""
    _, _, base = served
    for module in ("serving_test_server.py", "serving_test_json.py"):
        assert not imported_packages(ROOT / "tests" / module) & {"tfbert", "keras"}, module
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import numpy as np
import tensorflow as tf
from serving_test_server import start_test_server
server = start_test_server({str(base)!r}, "sentiment")
version, loaded = server.store.get("sentiment")
assert isinstance(loaded.session, tf.compat.v1.Session) and loaded.session.graph is loaded.graph
outputs = loaded.run(loaded.signature(""), {{"text": np.array([b"good movie"], object)}})
server.stop()
print(sorted(m for m in sys.modules if m.split(".")[0] == "tfbert"), outputs["label"])
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    labels = served[0]["sentiment"].predict(["good movie"])["label"]
    assert completed.stdout.strip() == f"[] [b'{labels[0]}']", completed.stdout


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory, served):
    """A run directory as `tfbert train` leaves it (model.keras, recipe.json), for the
    model the sentiment server serves."""
    models, _, base = served
    run = RunDirectory(tmp_path_factory.mktemp("run"))
    recipe = load_recipe(ROOT / "recipes" / "sentiment.toml", [
        f"output_dir={run.path}", f"export.dir={base}"])
    run.start(recipe)
    run.save_task(models["sentiment"])
    source = run.path / "texts.tsv"
    source.write_text("sentence\n" + "\n".join(t for t in TEXTS if t) + "\n")
    return run.path, source


def cli_predict(run, source, target, *extra):
    assert cli.main(["predict", str(run), "--input", str(source), "--output", str(target),
                     "--batch-size", "2", *extra]) == 0
    return [json.loads(line) for line in target.read_text().splitlines()]


def test_cli_predict_through_each_client_matches_in_process(served, sentiment_run, tmp_path):
    _, servers, _ = served
    run, source = sentiment_run
    local = cli_predict(run, source, tmp_path / "local.jsonl")
    assert len(local) == 4 and set(local[0]["probabilities"]) == {"neg", "pos", "mixed"}
    assert len({row["label"] for row in local}) > 1  # not one answer for everything
    server = servers["sentiment"]
    for protocol, address in (("grpc", server.grpc_address), ("rest", server.rest_address)):
        remote = cli_predict(run, source, tmp_path / f"{protocol}.jsonl",
                             "--server", address, "--protocol", protocol)
        assert [r["label"] for r in remote] == [r["label"] for r in local]
        assert [r["text"] for r in remote] == [r["text"] for r in local]
        for mine, theirs in zip(remote, local):
            assert mine["probabilities"].keys() == theirs["probabilities"].keys()
            np.testing.assert_allclose(list(mine["probabilities"].values()),
                                       list(theirs["probabilities"].values()), atol=2e-5)


def test_cli_reports_serving_errors_in_one_line(sentiment_run, tmp_path, capsys):
    run, source = sentiment_run
    port = closed_port()
    code = cli.main(["predict", str(run), "--input", str(source), "--output", str(tmp_path / "x.jsonl"),
                     "--server", f"127.0.0.1:{port}", "--protocol", "rest"])
    assert code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"tfbert: cannot reach TF Serving at 127.0.0.1:{port}") and "\n" not in error
