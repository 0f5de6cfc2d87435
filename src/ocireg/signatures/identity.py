"""Identity rules: does a signed ``docker-reference`` name the image being deployed? (#24, docs/architecture.md §10)

Transcribed from containers/image ``signature/policy_reference_match.go``:

- ``repository`` (``matchRepository``, ocireg's default): the signed reference names the same repository,
  whatever its tag or digest. What cosign writes (a repository-only identity) passes. It does not protect
  against a signed image being deployed under an unexpected tag (``containers-policy.json(5)``).
- ``exact`` (``matchRepoDigestOrExact``, containers/image's default): a reference with a tag needs the signed
  ``repo:tag`` exactly; a digest-only reference needs the same repository; a signed identity with neither a tag
  nor a digest is always refused. containers/image cannot express a reference with both a tag and a digest;
  ocireg judges it by its tag (the stricter reading).
"""

from __future__ import annotations

from ocireg.errors import InvalidReference
from ocireg.reference import Reference, parse_reference

__all__ = ["IDENTITY_RULES", "identity_matches"]

IDENTITY_RULES = ("repository", "exact")


def identity_matches(rule: str, wanted: Reference, signed: str | None) -> bool:
    """True if the signed identity ``signed`` satisfies ``rule`` for the reference ``wanted``.

    ``signed`` is ``None`` for a signature that names no identity (a cosign 3 bundle names only a digest): the
    ``repository`` rule accepts it (the signature was found in this repository and names this digest), the
    ``exact`` rule refuses it as it refuses a repository-only identity.
    """
    if signed is None:
        return rule == "repository"
    try:
        claimed = parse_reference(signed, default_tag=None)
    except InvalidReference:
        return False
    if claimed.repository != wanted.repository:
        return False
    if rule == "repository":
        return True
    if claimed.tag is None and claimed.digest is None:
        return False
    if wanted.tag is not None:
        return claimed.tag == wanted.tag and claimed.digest is None
    return wanted.digest is not None
