"""The ``perpflow`` command, one module per noun; ``main`` is the console script."""

from perpflow.cli.main import app, main

__all__ = ["app", "main"]
