"""Baseline text classifiers behind the same scikit-learn interface as the NCD kNN."""
