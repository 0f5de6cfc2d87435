"""Turn parsed arguments and the environment into settings, a client and output helpers.

This is where the process environment enters ocireg: ``cli.main(argv, env)`` passes it in once and everything
below receives explicit values (docs/architecture.md §1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from ocireg.errors import CredentialError, UsageError
from ocireg.record import field, record
from ocireg.text import LazyPattern, escape, is_utf8

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from ocireg.client import RegistryClient
    from ocireg.credentials import Chain, Credential
    from ocireg.gitlab import GitLabCI
    from ocireg.headstart import HeadStart
    from ocireg.reference import Reference
    from ocireg.text import KnownSecrets
    from ocireg.tokencache import TokenCache
    from ocireg.transport import TransportConfig

__all__ = ["Context"]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@record
class Context:
    args: argparse.Namespace
    env: Mapping[str, str]
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    head_start: HeadStart | None = None
    _client: RegistryClient | None = field(default=None, init=False)
    _gitlab: GitLabCI | None = field(default=None, init=False)
    _gitlab_loaded: bool = field(default=False, init=False)
    _password: str | None = field(default=None, init=False)
    _secrets: KnownSecrets | None = field(default=None, init=False)
    warnings_shown: set[str] = field(default_factory=set, init=False)

    # -- output ---------------------------------------------------------------------------------------------

    @property
    def output(self) -> str:
        return str(getattr(self.args, "output", "text") or "text")

    @property
    def quiet(self) -> bool:
        return bool(getattr(self.args, "quiet", False))

    def out(self, line: str) -> None:
        self.stdout.write(line + "\n")

    def err(self, line: str) -> None:
        if self._secrets is not None:
            # Last line of defence: no secret this process used reaches stderr, whatever text carried it.
            line = self._secrets.redact(line)
        self.stderr.write(line + "\n")

    def warn(self, line: str) -> None:
        if line not in self.warnings_shown:
            self.warnings_shown.add(line)
            self.err(f"ocireg: warning: {line}")

    def debug(self, line: str) -> None:
        self.stderr.write(f"debug: {line}\n")

    # -- GitLab CI ------------------------------------------------------------------------------------------

    @property
    def gitlab(self) -> GitLabCI | None:
        if not self._gitlab_loaded:
            self._gitlab_loaded = True
            # Outside a GitLab job the adapter is not even imported (start-up).
            if self.env.get("GITLAB_CI") or self.env.get("CI_SERVER"):
                from ocireg.gitlab import GitLabCI

                self._gitlab = GitLabCI.from_env(self.env)
        return self._gitlab

    def reference_text(self, text: str) -> str:
        """Apply the GitLab CI shorthand (``:TAG`` → ``$CI_REGISTRY_IMAGE:TAG``) inside a GitLab job."""
        ci = self.gitlab
        if ci is not None:
            text = ci.expand(text)  # unchanged in a job without a container registry (no CI_REGISTRY_IMAGE)
        if text[:1] in (":", "@"):
            raise UsageError(
                f"invalid reference {escape(text)!r}: the ':TAG' shorthand works only inside GitLab CI "
                "(CI_REGISTRY_IMAGE is not set)"
            )
        return text

    def parse_reference(self, text: str) -> Reference:
        from ocireg.reference import parse_reference

        return parse_reference(self.reference_text(text))

    # -- settings -------------------------------------------------------------------------------------------

    def _flag_env(self, name: str) -> bool | None:
        value = self.env.get(name)
        if value is None or value == "":
            return None
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise UsageError(f"{name}={escape(value)!r} is not a boolean (use 1/0, true/false)")

    def transport_config(self) -> TransportConfig:
        from ocireg import __version__
        from ocireg.reference import parse_registry
        from ocireg.transport import TransportConfig

        args = self.args
        plain = list(getattr(args, "plain_http", None) or [])
        plain += [h for h in self.env.get("OCIREG_PLAIN_HTTP", "").replace(",", " ").split() if h]
        insecure = list(getattr(args, "insecure_skip_tls_verify", None) or [])
        plain_hosts = frozenset(parse_registry(h).api_host for h in plain)
        insecure_hosts = frozenset(parse_registry(h).api_host for h in insecure)
        for host in sorted(insecure_hosts):
            self.warn(
                f"TLS verification is OFF for {host} (--insecure-skip-tls-verify): anyone on the path "
                "can impersonate it"
            )
        ca_file = getattr(args, "ca_file", None) or self.env.get("OCIREG_CA_FILE") or None
        if ca_file and not os.path.isfile(ca_file):
            raise UsageError(f"--ca-file {escape(ca_file)}: no such file")
        host_ca: dict[str, str] = {}
        ci = self.gitlab
        if ci is not None and ci.ca_file:
            if os.path.isfile(ci.ca_file):
                host_ca = ci.ca_hosts()
            else:
                self.warn(f"CI_SERVER_TLS_CA_FILE={escape(ci.ca_file)} does not exist; ignored")
        proxy = _proxy_from_env(self.env)
        no_proxy = _no_proxy_from_env(self.env)
        timeout = float(getattr(args, "timeout", None) or 120.0)
        if self.head_start is not None and getattr(args, "debug", False):
            begun = ", ".join(f"{host}:{port}" for host, port in self.head_start.begun)
            self.debug(f"TCP connections begun before the command line was parsed: {begun}")
        return TransportConfig(
            timeout=min(30.0, timeout),
            deadline=timeout,
            ca_file=ca_file,
            host_ca_files=host_ca,
            plain_http_hosts=plain_hosts,
            insecure_hosts=insecure_hosts,
            proxy=proxy,
            no_proxy=no_proxy,
            user_agent=f"ocireg/{__version__}",
            debug=self.debug if getattr(args, "debug", False) else None,
            warn=self.warn,
            max_connections=max(8, int(getattr(args, "jobs", 8) or 8)),
            connect_to=_connect_to_from_env(self.env),
            head_start=self.head_start,
        )

    def explicit_credential(self) -> Credential | None:
        from ocireg.credentials import Credential

        username = getattr(self.args, "username", None)
        wants_stdin = bool(getattr(self.args, "password_stdin", False))
        if wants_stdin and not username:
            raise UsageError("--password-stdin needs --username")
        if username and not wants_stdin:
            raise UsageError(
                "--username needs --password-stdin (passwords are never taken from the command line): "
                'echo "$TOKEN" | ocireg ... --username USER --password-stdin'
            )
        if not username:
            return None
        if self._password is None:
            line = self.stdin.readline()
            self._password = line.rstrip("\r\n")
            if not self._password:
                raise UsageError("--password-stdin: standard input was empty")
        # Bytes that are not UTF-8 arrive surrogate-escaped; encoding them later for the Authorization header would
        # fail as an internal error whose message shows the offending byte and its position (BI, SEC). A broken
        # credential is exit 3 whatever its source (#14 item 4).
        for what, value in (("--username", username), ("--password-stdin", self._password)):
            if not is_utf8(value):
                raise CredentialError(f"{what}: the value is not valid UTF-8 text; nothing was sent")
        return Credential(username=username, password=self._password, source="--username/--password-stdin")

    # Paths as str with os.path: pathlib is not otherwise on a check's path (#16, start-up).
    def home(self) -> str:
        home = self.env.get("HOME")
        return home if home else os.path.expanduser("~")

    def credential_chain(self) -> Chain:
        from ocireg.credentials import default_chain

        ci = self.gitlab
        extra = [ci.source()] if ci is not None else []
        return default_chain(self.env, self.home(), explicit=self.explicit_credential(), extra=extra)

    def token_cache(self) -> TokenCache | None:
        if getattr(self.args, "no_token_cache", False):
            return None
        if self._flag_env("OCIREG_TOKEN_CACHE") is False:
            return None
        from ocireg.tokencache import TokenCache

        debug = self.debug if getattr(self.args, "debug", False) else None
        return TokenCache(self.cache_dir(), debug=debug)

    def cache_dir(self) -> str:
        explicit = self.env.get("OCIREG_CACHE_DIR")
        if explicit:
            return explicit
        xdg = self.env.get("XDG_CACHE_HOME")
        if xdg:
            return os.path.join(xdg, "ocireg")
        if sys.platform.startswith("linux"):
            return os.path.join(self.home(), ".cache", "ocireg")
        import platformdirs

        return str(platformdirs.user_cache_dir("ocireg", appauthor=False))

    def client(self) -> RegistryClient:
        if self._client is None:
            from ocireg.client import RegistryClient

            self._client = RegistryClient(
                self.credential_chain(), config=self.transport_config(), token_cache=self.token_cache()
            )
            self._secrets = self._client.transport.secrets
            ci = self.gitlab
            for registry, realm, service in ci.predicted_realms() if ci is not None else ():
                self._client.session(registry).predict(realm, service)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
# A NO_PROXY entry: a host name, an IP address (IPv6 in brackets or not), a CIDR block, ``*``, a leading dot,
#: Tests only (docs/testing.md, "Registries under their own names"): curl's --connect-to
#: ``HOST:PORT:ADDRESS:PORT[,...]`` so the rig reaches real registry names on loopback; any other address is refused.
CONNECT_TO_VARIABLE = "OCIREG_TEST_CONNECT_TO"


def _connect_to_from_env(env: Mapping[str, str]) -> dict[tuple[str, int], tuple[str, int]]:
    if not env.get(CONNECT_TO_VARIABLE):
        return {}
    import ipaddress

    result: dict[tuple[str, int], tuple[str, int]] = {}
    for item in (i.strip() for i in env.get(CONNECT_TO_VARIABLE, "").split(",")):
        if not item:
            continue
        host, port, address, to_port = ([*item.split(":"), "", "", "", ""])[:4]
        try:
            loopback = ipaddress.ip_address(address).is_loopback and item.count(":") == 3
            result[(host.lower(), int(port))] = (address, int(to_port))
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(
                f"{CONNECT_TO_VARIABLE}: {escape(item)!r} is not HOST:PORT:LOOPBACK-ADDRESS:PORT"
            )
    return result


# an optional port. Anything else (a newline, a tab, a quote) is a broken environment, not a host.
_NO_PROXY_ENTRY = LazyPattern(r"[A-Za-z0-9._\-:\[\]*/%]+")


def _proxy_from_env(env: Mapping[str, str]) -> str | None:
    """The proxy URL from HTTPS_PROXY / ALL_PROXY (first set wins), checked; its userinfo is never shown.

    As curl does, a value without a scheme (``user:pw@host:3128``) means ``http://``. Only HTTP(S) proxies are
    supported (the HTTP layer speaks no SOCKS); whitespace or control characters (a trailing newline from a
    file or a secret store) make the value unusable rather than silently different (#14 item 5).
    """
    name = next((n for n in PROXY_VARIABLES if env.get(n)), None)
    if name is None:
        return None
    value = env[name]
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UsageError(
            f"{name} contains whitespace or a control character (a trailing newline?); "
            "set it to a proxy URL such as http://proxy.example.com:3128"
        )
    if "://" not in value:
        value = "http://" + value  # curl: a proxy without a scheme is an HTTP proxy
    scheme = value.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise UsageError(
            f"{name}: proxy scheme {escape(scheme[:20])!r} is not supported; use an http:// or https:// proxy"
        )
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise UsageError(f"{name} is not a valid proxy URL (bad host or port)") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"{name} is not a valid proxy URL; expected {scheme}://[user:password@]host[:port]")
    return f"{scheme}://{parts.netloc}"


def _no_proxy_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("NO_PROXY") or env.get("no_proxy") or ""
    entries = tuple(h for h in raw.replace(" ", "").split(",") if h)
    for entry in entries:
        if not _NO_PROXY_ENTRY.fullmatch(entry):
            raise UsageError(
                f"NO_PROXY entry '{escape(entry)}' is not a host name, address or domain "
                "(a newline or control character?); separate entries with commas"
            )
    return entries
