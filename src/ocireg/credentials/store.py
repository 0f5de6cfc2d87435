"""``login`` and ``logout``: writing a credential to Docker's ``config.json`` (or its helper), and erasing it.
Part of :mod:`ocireg.credentials`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from functools import partial

from ocireg.credentials.credential import (
    DOCKER_HUB_NAME,
    DOCKER_HUB_SERVER_URL,
    helper_server_url,
    registry_key,
)
from ocireg.credentials.files import CONFIG_SIZE_LIMIT, AuthDocument
from ocireg.credentials.helpers import HelperCredentialsNotFound, run_helper
from ocireg.errors import CredentialError
from ocireg.reference import Registry
from ocireg.text import escape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TypeVar

    _T = TypeVar("_T")


__all__ = ["docker_config_path", "erase_credential", "store_credential"]

# ------------------------------------------------------------------------------- login / logout: writing them


def docker_config_path(env: Mapping[str, str], home: str | os.PathLike[str]) -> Path:
    """Where Docker keeps its configuration: ``$DOCKER_CONFIG/config.json``, else ``HOME/.docker/config.json``."""
    from pathlib import Path  # only for login/logout, which write it (#16, start-up)

    docker_config = env.get("DOCKER_CONFIG")
    return (Path(docker_config) if docker_config else Path(home) / ".docker") / "config.json"


def store_credential(
    config_path: Path,
    registry: Registry,
    username: str,
    secret: str,
    *,
    env: Mapping[str, str],
    helper_timeout: float = 10.0,
) -> str:
    """Store a login where Docker would, and return where (for messages; never a secret).

    The helper configured in ``config_path`` for ``registry`` (``credHelpers[host]``, else ``credsStore``)
    gets it through ``docker-credential-<name> store`` (the secret goes over stdin, never argv); any plain
    ``auths`` entry for the host is then dropped so no stale password stays in the file. Without a helper it
    goes into ``auths`` as ``{"auth": base64(user:secret)}``. The file is created 0600 (directory 0700) and
    replaced atomically, keeping every other key; a file that is not valid JSON is refused, never overwritten.
    """
    if not username or ":" in username:
        raise CredentialError("the user name must be non-empty and must not contain ':'")
    if not secret:
        raise CredentialError("the password must not be empty")
    store = partial(_store, config_path, registry, username, secret, env=env, helper_timeout=helper_timeout)
    return _config_locked(config_path, store)


def _store(
    config_path: Path,
    registry: Registry,
    username: str,
    secret: str,
    *,
    env: Mapping[str, str],
    helper_timeout: float,
) -> str:
    doc = _read_for_update(config_path)
    helper, kind = _helper_for(doc, registry, config_path)
    auths = _auths_section(doc, config_path)
    removed = _drop_entries(auths, registry)
    if helper is not None:
        payload = json.dumps(
            {"ServerURL": helper_server_url(registry), "Username": username, "Secret": secret}
        ).encode("utf-8")
        origin = f"{kind} in {config_path}"
        run_helper(helper, "store", payload, env=env, timeout=helper_timeout, origin=origin)
        if removed:
            _write_config(config_path, doc)
        return f"docker-credential-{helper} ({origin})"
    key = DOCKER_HUB_SERVER_URL if registry.name == DOCKER_HUB_NAME else registry.name
    token = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
    auths[key] = {"auth": token}
    _write_config(config_path, doc)
    return str(config_path)


def erase_credential(
    config_path: Path, registry: Registry, *, env: Mapping[str, str], helper_timeout: float = 10.0
) -> bool:
    """Remove a login the way :func:`store_credential` stored it; True if there was one to remove.

    The configured helper is asked to ``erase`` (its "credentials not found" is not an error) and every
    ``auths`` entry for the host is dropped, as ``docker logout`` does.
    """
    return _config_locked(
        config_path, partial(_erase, config_path, registry, env=env, helper_timeout=helper_timeout)
    )


def _erase(config_path: Path, registry: Registry, *, env: Mapping[str, str], helper_timeout: float) -> bool:
    doc = _read_for_update(config_path)
    helper, kind = _helper_for(doc, registry, config_path)
    erased = False
    if helper is not None:
        try:
            run_helper(
                helper,
                "erase",
                helper_server_url(registry).encode("utf-8"),
                env=env,
                timeout=helper_timeout,
                origin=f"{kind} in {config_path}",
            )
            erased = True
        except HelperCredentialsNotFound:
            pass
    if "auths" in doc and _drop_entries(_auths_section(doc, config_path), registry):
        _write_config(config_path, doc)
        erased = True
    return erased


def _config_locked(path: Path, action: Callable[[], _T]) -> _T:
    """``action()`` with the config file's directory locked: one read-modify-replace at a time, so concurrent
    ``login``/``logout`` runs merge and none is lost (:func:`ocireg.atomicfile.locked_directory`, #23)."""
    from ocireg.atomicfile import locked_directory  # only when writing Docker's config (#16, start-up)

    directory = (path.resolve() if path.is_symlink() else path).parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = locked_directory(directory)
        lock.__enter__()
    except OSError as exc:
        raise CredentialError(
            f"cannot lock {directory}: {escape(exc.strerror or type(exc).__name__)}"
        ) from None
    try:
        return action()
    finally:
        lock.__exit__(None, None, None)


def _read_for_update(path: Path) -> dict[str, object]:
    """The config document to modify: ``{}`` for a missing file; anything unreadable is an error."""
    try:
        with path.open("rb") as handle:
            data = handle.read(CONFIG_SIZE_LIMIT + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise CredentialError(
            f"{path}: cannot be read ({escape(exc.strerror or type(exc).__name__)})"
        ) from None
    if len(data) > CONFIG_SIZE_LIMIT:
        raise CredentialError(f"{path}: larger than {CONFIG_SIZE_LIMIT // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise CredentialError(
            f"{path}: not a JSON object; refusing to overwrite it",
            hint=f"fix or remove {path}; it must be in docker config.json format",
        )
    return doc


def _helper_for(doc: dict[str, object], registry: Registry, path: Path) -> tuple[str | None, str]:
    parsed = AuthDocument(doc, origin=str(path))  # validates credHelpers / credsStore
    entry = parsed.helpers.get(registry.name)
    if entry is not None:
        return str(entry[1]), "credHelpers"
    return parsed.store, "credsStore"


def _auths_section(doc: dict[str, object], path: Path) -> dict[str, object]:
    auths = doc.get("auths")
    if auths is None:
        auths = doc["auths"] = {}
    if not isinstance(auths, dict):
        raise CredentialError(f'{path}: "auths" is not a JSON object; refusing to overwrite it')
    return auths


def _drop_entries(auths: dict[str, object], registry: Registry) -> bool:
    """Remove every ``auths`` key that names ``registry`` (any spelling); True if one was removed."""
    keys = [key for key in auths if registry_key(key) == registry.name]
    for key in keys:
        del auths[key]
    return bool(keys)


def _write_config(path: Path, doc: Mapping[str, object]) -> None:
    """Replace ``path`` atomically with ``doc`` (:func:`ocireg.atomicfile.replace_file`, mode 0600).

    Like Docker, a symlinked config file is followed and its target replaced (dotfile managers link it).
    """
    from ocireg.atomicfile import replace_file  # only when writing Docker's config (#16, start-up)

    target = path.resolve() if path.is_symlink() else path
    data = (json.dumps(doc, indent="\t") + "\n").encode("utf-8")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_file(target, data, prefix=".config.json.")  # created 0600
    except OSError as exc:
        raise CredentialError(f"cannot write {path}: {escape(exc.strerror or type(exc).__name__)}") from None
