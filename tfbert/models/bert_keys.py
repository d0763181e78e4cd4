"""BERT's config.json keys and the BertConfig fields they set.

Hugging Face's names; Google's bert_config.json uses the same. Kept apart from
config.py so that a family whose config.json extends BERT's (ELECTRA) can say so
without importing the module that imports it.
"""

BERT_CONFIG_FIELDS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "hidden_act": "hidden_act",
    "hidden_dropout_prob": "hidden_dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "layer_norm_eps": "layer_norm_epsilon",
}
