"""The names users import keep working across the package's layout."""

import keras

import tfbert


def test_top_level_names():
    assert isinstance(tfbert.BertEncoder(vocab_size=10, hidden_size=8, num_layers=1, num_heads=2,
                                         intermediate_size=16), keras.Model)
    assert tfbert.BertConfig(vocab_size=10).vocab_size == 10
    assert tfbert.BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"]).vocabulary_size == 5
    assert callable(tfbert.from_pretrained)


def test_layers_tasks_export_and_serving_names():
    from tfbert.export import export_for_serving
    from tfbert.layers import CRF, POOLING_HEADS, TransformerBlock
    from tfbert.serving import make_client
    from tfbert.tasks import (IntentAndSlots, MaskedLanguageModel, SentenceEmbedder, TextClassifier,
                              TextRegressor, TokenClassifier)

    assert issubclass(CRF, keras.layers.Layer) and issubclass(TransformerBlock, keras.layers.Layer)
    assert set(POOLING_HEADS) == {"cls", "attention", "mean"}
    assert issubclass(IntentAndSlots, TokenClassifier)
    for task in (MaskedLanguageModel, SentenceEmbedder, TextClassifier, TextRegressor):
        assert issubclass(task, tfbert.tasks.Task)
    assert callable(export_for_serving) and callable(make_client)
