"""The connections a command line will need first, begun before it is parsed (#25; docs/architecture.md §7).

``ocireg exists REGISTRY/REPO:TAG`` will open a TCP connection to REGISTRY, and inside a GitLab CI job to the
GitLab host that issues its tokens; Python needs ≈ 25 ms to load the code that does so. :func:`begin` reads the
command line the cheap way, before argparse, and starts those TCP connections meanwhile
(:class:`ocireg.headstart.HeadStart`); the pool takes them instead of dialling. Only what the command line says
plainly is begun, and only for ``exists``, ``digest`` and ``tags``:

- the first argument that names a registry host the way Docker tells one from a Docker Hub path (a first
  component with a dot or a colon, or ``localhost``), or the CI shorthand ``:TAG`` / ``@DIGEST`` inside a job;
- in a GitLab CI job, for ``CI_REGISTRY`` (or the dependency proxy), the predicted token realm's host, only if
  the realm passes the same validation a token request would (``ocireg.auth.validate_realm``, docs §4);
- nothing when a proxy is configured (the pool would connect to the proxy, not the host), for ``--help``, and
  for the test-only ``OCIREG_TEST_CONNECT_TO``.

A guess that turns out wrong (an option's value that looks like a registry, a ``--plain-http`` host written
differently) costs one TCP connection that carries nothing and closes with the process.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ocireg.headstart import HeadStart

__all__ = ["begin", "realm_address", "registry_address"]

COMMANDS = ("exists", "digest", "tags")
# Every variable a proxy may come from (the CLI reads HTTPS_PROXY/ALL_PROXY; HTTP_PROXY as well here, to be sure).
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")
_CONNECT_TO = "OCIREG_TEST_CONNECT_TO"


def begin(argv: Sequence[str], env: Mapping[str, str]) -> HeadStart | None:
    """Begin the connections ``argv`` will need first; ``None`` when there is nothing to begin."""
    if not argv or argv[0] not in COMMANDS or "-h" in argv or "--help" in argv:
        return None
    if env.get(_CONNECT_TO) or any(env.get(name) for name in _PROXY_VARIABLES):
        return None
    registry = registry_address(argv, env)
    if registry is None:
        return None
    from ocireg.headstart import HeadStart

    start = HeadStart()
    start.begin(*registry)
    realm = realm_address(registry, argv, env)  # validated first: imports what a token request imports
    if realm is not None:
        start.begin(*realm)
    return start


def registry_address(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str, int] | None:
    """(host, port) of the registry of the first reference in ``argv[1:]``, read without parsing options."""
    ci_image = env.get("CI_REGISTRY_IMAGE", "").strip() if _in_gitlab_ci(env) else ""
    plain = _plain_http(argv, env)
    for arg in argv[1:]:
        if arg.startswith("-"):
            continue
        shorthand = ci_image and arg[:1] in (":", "@") and len(arg) > 1  # as GitLabCI.expand reads it
        text = ci_image + arg if shorthand else arg
        address = _host_port(text.partition("/"), plain)
        if address is not None:
            return address
    return None


def realm_address(
    registry: tuple[str, int], argv: Sequence[str], env: Mapping[str, str]
) -> tuple[str, int] | None:
    """(host, port) of the token realm predicted for ``registry`` in a GitLab CI job, if it passes validation."""
    if not _in_gitlab_ci(env):
        return None
    from ocireg.auth.realm import validate_realm
    from ocireg.connection import split_url
    from ocireg.errors import OciregError
    from ocireg.gitlab import GitLabCI

    try:
        ci = GitLabCI.from_env(env)
    except OciregError:
        return None
    predicted = ci.predicted_realms() if ci is not None else []
    plain = _plain_http(argv, env)
    for candidate, realm, _service in predicted:
        host, port = candidate.hostname, candidate.port
        scheme = "http" if candidate.name in plain or candidate.api_host in plain else "https"
        if (host, port or (80 if scheme == "http" else 443)) != registry:
            continue
        try:
            # The rule a token request applies, with the registry's scheme as the command line says it
            # (an https registry admits no http realm): never a looser one (docs/architecture.md §4).
            target = split_url(validate_realm(realm, f"{scheme}://{candidate.api_host}"))
        except (OciregError, ValueError):
            return None
        return target.host, target.port
    return None


def _in_gitlab_ci(env: Mapping[str, str]) -> bool:
    return bool(env.get("GITLAB_CI") or env.get("CI_SERVER"))  # as ocireg.cli.context.Context.gitlab


def _plain_http(argv: Sequence[str], env: Mapping[str, str]) -> set[str]:
    """The hosts ``--plain-http HOST`` / ``--plain-http=HOST`` and ``OCIREG_PLAIN_HTTP`` name, lower case."""
    hosts = {h.lower() for h in env.get("OCIREG_PLAIN_HTTP", "").replace(",", " ").split() if h}
    for i, arg in enumerate(argv):
        if arg == "--plain-http" and i + 1 < len(argv):
            hosts.add(argv[i + 1].lower())
        elif arg.startswith("--plain-http="):
            hosts.add(arg.partition("=")[2].lower())
    return hosts


def _host_port(split: tuple[str, str, str], plain: set[str]) -> tuple[str, int] | None:
    """The registry host of ``first/rest`` by Docker's rule (a dot, a colon or ``localhost``), ASCII names and
    IPv4 only; ``None`` for anything else (a Docker Hub path, a file name, an IPv6 literal: no head start)."""
    first, slash, _rest = split
    if not slash or not first or not first.isascii() or first.startswith("["):
        return None
    if not ("." in first or ":" in first or first == "localhost"):
        return None
    host, colon, port_text = first.lower().partition(":")
    if not host or not all(c.isalnum() or c in ".-_" for c in host) or host.strip(".") != host:
        return None
    if colon:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        return host, int(port_text)
    if host in ("docker.io", "index.docker.io"):
        return "registry-1.docker.io", 443  # Docker Hub's API host (ocireg.reference.Registry.api_host)
    return host, 80 if first.lower() in plain else 443
