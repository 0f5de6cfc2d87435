"""Credentials: where ocireg finds a username/password or token for a registry, and in which order.

Precedence (docs/architecture.md §3; the README repeats it). For each registry the first source that has a
credential wins:

1. explicit: ``--username`` + ``--password-stdin`` (:class:`StaticSource`), then
   ``OCIREG_USERNAME``/``OCIREG_PASSWORD`` (:class:`EnvSource`);
2. the CI adapter's source, only for its own registry (passed in as ``extra`` by the CLI);
3. ``DOCKER_AUTH_CONFIG`` (:class:`DockerAuthConfigSource`: JSON in ``config.json`` format, as CI
   runners use);
4. the containers auth files in containers-auth.json(5) order: ``REGISTRY_AUTH_FILE``, then
   ``${XDG_RUNTIME_DIR}/containers/auth.json``, then ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``;
   then ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json`` (:class:`ConfigFileSource`). Within one
   file, per host: ``credHelpers[host]`` > ``credsStore`` > ``auths``. As in Docker, the chosen helper or
   store is authoritative for that file: when it has no credential for the host, the file has none (``auths``
   is not consulted behind its back). In the containers files an ``auths`` key may name a namespace
   (``host/group/project``): the longest namespace of the repository wins, then the host key
   (containers/image ``pkg/docker/config``); Docker's ``config.json`` and ``DOCKER_AUTH_CONFIG`` (the same
   format) are matched by host only, as Docker reads them, so a check uses the account ``docker pull`` will;
5. anonymous.

Host keys match the exact normalised ``host[:port]`` only: the default registry's aliases (``docker.io``,
``index.docker.io``, ``https://index.docker.io/v1/``, ``registry-1.docker.io``) are one key; a scheme and the
``/v1/`` or ``/v2/`` path of old URL-style keys are ignored. Namespace keys match whole path components
(``host/group`` covers ``host/group/app``, never ``host/groupie``). There is no other prefix or substring
matching.

A broken source (malformed file, missing, failing or hanging helper) raises
:class:`~ocireg.errors.CredentialError` naming the file or the helper; it never falls through silently to the
next source. A missing file is simply no source. Helpers run as ``docker-credential-<name> get`` without a
shell and with a timeout; their output is never logged, and no secret ever reaches ``repr``, ``str``,
:meth:`Credential.describe` or an error message.

This module never reads the process environment itself: the environment mapping and the home directory are passed in.
"""

from __future__ import annotations

from ocireg.credentials.chain import Chain, default_chain, docker_sources, held_secrets
from ocireg.credentials.credential import (
    ANONYMOUS,
    DOCKER_HUB_SERVER_URL,
    Credential,
    CredentialSource,
    EnvSource,
    StaticSource,
    helper_server_url,
    namespace_key,
    registry_key,
)
from ocireg.credentials.files import ConfigFileSource, DockerAuthConfigSource
from ocireg.credentials.helpers import HelperCredentialsNotFound, run_helper
from ocireg.credentials.store import docker_config_path, erase_credential, store_credential

__all__ = [
    "ANONYMOUS",
    "DOCKER_HUB_SERVER_URL",
    "Chain",
    "ConfigFileSource",
    "Credential",
    "CredentialSource",
    "DockerAuthConfigSource",
    "EnvSource",
    "HelperCredentialsNotFound",
    "StaticSource",
    "default_chain",
    "docker_config_path",
    "docker_sources",
    "erase_credential",
    "held_secrets",
    "helper_server_url",
    "namespace_key",
    "registry_key",
    "run_helper",
    "store_credential",
]
