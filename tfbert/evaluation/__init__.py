"""Scores and reports: scikit-learn metrics (`metrics.py`), entity F1 as conlleval
counts it (`entity_metrics.py`), the report files (`report.py`), the bag-of-words
baseline (`baseline.py`) and running a task over labelled examples (`evaluate.py`).
Tasks are reached only through their methods, never imported."""
