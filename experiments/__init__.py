"""Reproducible experiments: declarative configs in ``configs/``, results as files in ``results/``.

Run one with ``python -m experiments run full_data`` (see the README's Results section).
"""
