"""The inference engine: rows sorted by length, run in chunks each padded to its own
longest row, outputs put back in input order, all in the TensorFlow graph
(`engine.py`); one-row chunks XLA-compiled at a few bucketed lengths (`xla_buckets.py`).
`Task.predict`, evaluation, every exported signature and `tfbert embed` run through it."""
