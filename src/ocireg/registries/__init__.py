"""Registry profiles: one small module per registry family, each holding only what that family does differently
(docs/architecture.md §11). :func:`for_host` picks a profile by host name; :func:`for_challenge` and
:func:`for_features` where the name cannot tell. A registry nobody recognises gets :data:`generic.GENERIC`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocireg.registries import acr, artifactregistry, dockerhub, ecr, ghcr, gitlab, harbor, quay
from ocireg.registries.base import (
    MAX_HINT_LINE,
    MAX_HINT_LINES,
    Features,
    Profile,
    Refusal,
    hint_lines,
    spec_verdict,
)
from ocireg.registries.generic import GENERIC

__all__ = [
    "GENERIC",
    "MAX_HINT_LINE",
    "MAX_HINT_LINES",
    "Features",
    "Profile",
    "Refusal",
    "all_profiles",
    "extension_profiles",
    "for_challenge",
    "for_features",
    "for_host",
    "hint_lines",
    "spec_verdict",
]

_PROFILES: tuple[Profile, ...] = (
    gitlab.GITLAB,
    dockerhub.DOCKERHUB,
    ghcr.GHCR,
    quay.QUAY,
    harbor.HARBOR,
    ecr.ECR,
    acr.ACR,
    artifactregistry.ARTIFACT_REGISTRY,
)


def all_profiles() -> tuple[Profile, ...]:
    """Every known profile but the generic one, in the order they are asked."""
    return _PROFILES


def _hostname(host: str) -> str:
    """``host[:port]`` → the lower-case name without port or brackets."""
    text = host.lower().rstrip(".")
    if text.startswith("["):
        return text.split("]", 1)[0] + "]"
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def for_host(host: str) -> Profile:
    """The profile of the registry at ``host`` by its name; :data:`GENERIC` when the name does not tell."""
    name = _hostname(host)
    return next((p for p in all_profiles() if p.matches_host(name)), GENERIC)


def for_challenge(scheme: str, params: Mapping[str, str]) -> Profile | None:
    """The profile a challenge names (Harbor's ``service="harbor-registry"``, GitLab's ``/jwt/auth``), if any."""
    return next((p for p in all_profiles() if p.matches_challenge(scheme, params)), None)


def for_features(headers: Mapping[str, str]) -> Features | None:
    """The features a ``GET /v2/`` answer announces through some family's own headers, if any."""
    for profile in all_profiles():
        found = profile.features(headers)
        if found is not None:
            return found
    return None


def extension_profiles(profile: Profile) -> tuple[Profile, ...]:
    """Whose extension API (a tag-details listing, a single-tag delete) to try on a registry of ``profile``: its
    own; for a registry the name did not tell (generic), every self-managed family's, since such a registry may
    be one of them (its answer then says so, and is remembered per session)."""
    if profile is not GENERIC:
        return (profile,)
    return tuple(p for p in _PROFILES if p.self_managed)
