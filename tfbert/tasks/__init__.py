from tfbert.tasks.text_classifier import TextClassifier
from tfbert.tasks.text_regressor import TextRegressor

__all__ = ["TextClassifier", "TextRegressor"]
