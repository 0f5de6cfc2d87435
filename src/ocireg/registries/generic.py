"""The spec's registry (OCI distribution, Docker token spec): no refinement at all.

Every registry nobody recognises gets this profile and the generic answers of docs/architecture.md §2.
"""

from __future__ import annotations

from ocireg.registries.base import Profile

__all__ = ["GENERIC", "GenericProfile"]


class GenericProfile(Profile):
    """Nothing differs from :class:`~ocireg.registries.base.Profile`."""


GENERIC = GenericProfile()
