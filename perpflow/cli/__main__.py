"""``python -m perpflow.cli``: the ``perpflow`` command."""

from perpflow.cli.main import main

main()
