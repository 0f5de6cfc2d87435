"""The "crane layer": what the commands do, as library functions over a :class:`~ocireg.client.RegistryClient`.

One module per job (``check`` for exists/digest batches, and the modules added beside it); the CLI calls these,
and so can any Python program.
"""

from ocireg.operations.check import MAX_JOBS, CheckResult, check_digests, check_exists, parse_references

__all__ = ["MAX_JOBS", "CheckResult", "check_digests", "check_exists", "parse_references"]
