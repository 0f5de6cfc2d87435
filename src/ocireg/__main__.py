"""``python -m ocireg``: the same as the ``ocireg`` console script."""

from ocireg.cli import run

run()
