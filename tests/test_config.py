import json
import pathlib
import subprocess
import sys

import pytest

from tfbert.models.config import BertConfig

CONFIG_FILE = pathlib.Path(__file__).parents[1] / "tfbert" / "models" / "config.py"


def write_json(tmp_path, values, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return path


def test_reads_hugging_face_config(minilm_dir):
    config = BertConfig.from_json_file(minilm_dir / "config.json")
    assert (config.vocab_size, config.hidden_size, config.num_layers) == (30522, 384, 6)
    assert (config.num_heads, config.intermediate_size, config.head_size) == (12, 1536, 32)
    assert config.layer_norm_epsilon == 1e-12


def test_reads_google_bert_config(tmp_path):
    google = {
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
        "intermediate_size": 3072, "max_position_embeddings": 512,
        "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2,
        "vocab_size": 30522,
    }
    config = BertConfig.from_json_file(write_json(tmp_path, google, "bert_config.json"))
    assert config == BertConfig(vocab_size=30522)


def test_dict_round_trip():
    config = BertConfig(vocab_size=10, hidden_size=8, num_heads=2, num_layers=1)
    assert BertConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "values, message",
    [
        ({"vocab_size": 10, "hidden_size": 30, "num_attention_heads": 4},
         "hidden_size (30) must be divisible by num_attention_heads (4)"),
        ({"vocab_size": 10, "hidden_act": "swish"}, "hidden_act 'swish' is not supported"),
        ({"vocab_size": 10, "num_hidden_layers": -2}, "num_hidden_layers must be a positive integer, got -2"),
        ({"vocab_size": 10, "intermediate_size": 0}, "intermediate_size must be a positive integer"),
        ({"vocab_size": 10, "hidden_size": 7.5}, "hidden_size must be a positive integer"),
        ({"vocab_size": 10, "hidden_dropout_prob": 1.5}, "hidden_dropout_prob must be in [0, 1)"),
        ({"vocab_size": 10, "layer_norm_eps": 0}, "layer_norm_eps must be in (0, 1)"),
        ({"vocab_size": 10, "embedding_size": 128}, "unknown key(s) embedding_size"),
        ({"vocab_size": 10, "model_type": "roberta"}, "model_type 'roberta' is not supported"),
        ({"vocab_size": 10, "position_embedding_type": "relative_key"},
         "position_embedding_type 'relative_key' is not supported"),
        ({"vocab_size": 10, "is_decoder": True}, "is_decoder=true is not supported"),
        ({"hidden_size": 8}, "missing required key vocab_size"),
    ],
)
def test_bad_values_name_the_key_and_file(tmp_path, values, message):
    path = write_json(tmp_path, values)
    with pytest.raises(ValueError) as error:
        BertConfig.from_json_file(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_constructor_validates():
    with pytest.raises(ValueError, match="hidden_size \\(10\\) must be divisible by num_heads \\(3\\)"):
        BertConfig(vocab_size=5, hidden_size=10, num_heads=3)


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "vocab_size": 10,\n  "hidden_size": \n}')
    with pytest.raises(ValueError, match=r"config.json: not valid JSON \(line 4"):
        BertConfig.from_json_file(path)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BertConfig.from_json_file(tmp_path / "nope.json")


def test_activation_names_match_the_layers_table():
    """config.py lists the names (without TensorFlow); the layer holds the functions."""
    from tfbert.models.config import SUPPORTED_ACTIVATIONS
    from tfbert.layers.transformer_block import ACTIVATIONS

    assert tuple(ACTIVATIONS) == SUPPORTED_ACTIVATIONS


def test_config_module_does_not_import_tensorflow():
    # Loaded by file path, so that the package's __init__ does not count.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('config', {str(CONFIG_FILE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.BertConfig(vocab_size=10)\n"
        "heavy = sorted({'tensorflow', 'keras', 'numpy'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_field_names_in_declaration_order():
    assert BertConfig.field_names() == tuple(BertConfig(vocab_size=1).to_dict())
