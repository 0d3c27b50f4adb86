"""Evaluation metrics (paper §4.2 and beyond), mir_eval style: pure functions + ``evaluate()``."""
