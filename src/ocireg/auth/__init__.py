"""Registry authentication, by concern (docs/architecture.md §7):

* :mod:`~ocireg.auth.challenge`: ``WWW-Authenticate`` parsing (RFC 7235);
* :mod:`~ocireg.auth.realm`: the realm policy, judged before any connection (docs/architecture.md §4);
* :mod:`~ocireg.auth.tokens`: tokens, token requests (GET, OAuth2 POST) and the ``Authorization`` builders;
* :mod:`~ocireg.auth.refusal`: what a refusal means, judged by the registry's profile;
* :mod:`~ocireg.auth.session`: one :class:`RegistrySession` per registry host, and the map of them;
* :mod:`~ocireg.auth.flow`: :class:`AuthFlow`, the authentication of one request, and its observer hook.
"""

from __future__ import annotations

from ocireg.auth.challenge import Challenge, parse_challenges, usable_bearer
from ocireg.auth.flow import AuthFlow, FlowObserver
from ocireg.auth.realm import host_class, socket_address, validate_realm
from ocireg.auth.refusal import no_credentials_hint, server_message, token_refusal
from ocireg.auth.session import RegistrySession, Sessions
from ocireg.auth.tokens import (
    TOKEN_BODY_LIMIT,
    Token,
    TokenKey,
    basic_header,
    bearer_header,
    decode_jwt_claims,
    merge_scopes,
    read_capped_quiet,
    same_resources,
)

__all__ = [
    "TOKEN_BODY_LIMIT",
    "AuthFlow",
    "Challenge",
    "FlowObserver",
    "RegistrySession",
    "Sessions",
    "Token",
    "TokenKey",
    "basic_header",
    "bearer_header",
    "decode_jwt_claims",
    "host_class",
    "merge_scopes",
    "no_credentials_hint",
    "parse_challenges",
    "read_capped_quiet",
    "same_resources",
    "server_message",
    "socket_address",
    "token_refusal",
    "usable_bearer",
    "validate_realm",
]
