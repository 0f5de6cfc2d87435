"""``login``: prove that credentials work before anything stores them.

The check is the registry's own: ``GET /v2/`` (the API version check every client starts with) with the
challenge answered. For a token registry that is one token request *without a scope*, which is what
``docker login`` sends: a token service (``/jwt/auth`` for one) answers 200 for valid credentials even with nothing to grant
and 401 for bad ones, so the check needs no project path and no permission. A Basic-auth registry checks the
password on ``/v2/`` itself.
"""

from __future__ import annotations

from ocireg.client import RegistryClient
from ocireg.record import record
from ocireg.reference import Registry
from ocireg.text import escape

__all__ = ["LoginCheck", "verify_login"]


@record(frozen=True)
class LoginCheck:
    """``challenged`` is False when the registry answered without asking for credentials at all."""

    registry: Registry
    challenged: bool


def verify_login(client: RegistryClient, registry: Registry) -> LoginCheck:
    """Check the credential ``client`` holds for ``registry``; raises what a refused login raises.

    :class:`~ocireg.errors.AuthenticationFailed` (exit 3) when the token service or the registry rejects the
    credentials. Build ``client`` without a token cache: a cached token would prove nothing new.
    """
    before = client.transport.request_count
    response = client.request(
        "GET",
        registry,
        "/v2/",
        scopes=(),
        headers={"Accept": "application/json"},
        deadline=client.deadline(),
        what=f"login to {escape(str(registry))}",
    )
    response.close()
    # One request means the registry answered 200 without a challenge: nothing was verified.
    return LoginCheck(registry, challenged=client.transport.request_count - before > 1)
