"""The "crane layer": what the commands do, as library functions over a :class:`~ocireg.client.RegistryClient`.

One module per job (``batch`` for the exists/digest batches, ``check`` for the deploy-file check, ``files`` for
finding references in deploy files, ...); the CLI calls these, and so can any Python program.
"""

from ocireg.operations.batch import MAX_JOBS, CheckResult, check_digests, check_exists, parse_references

__all__ = ["MAX_JOBS", "CheckResult", "check_digests", "check_exists", "parse_references"]
