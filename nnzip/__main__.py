"""``python -m nnzip``: the same command line as ``nnzip``."""

from .cli import main

if __name__ == "__main__":
    main()
