"""The BERT encoder and its checkpoints: `config.py` (BertConfig), `encoder.py`
(BertEncoder, a functional keras.Model of `tfbert.layers`), checkpoints read
(`checkpoint.py`: Hugging Face safetensors or Google TF) and written
(`checkpoint_writer.py`), short names of installed checkpoints (`pretrained.py`) and
the pooling a checkpoint was trained with (`checkpoint_pooling.py`)."""
