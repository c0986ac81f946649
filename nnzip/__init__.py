"""nnzip: compression-based text classification (gzip + kNN), exact and fast."""

__version__ = "0.1.0"
