"""``WWW-Authenticate`` challenges (RFC 7235 §4.1): parsing, and the one a client answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ocireg.errors import ChallengeError
from ocireg.link import quoted_string
from ocireg.record import field, record
from ocireg.text import escape

__all__ = ["Challenge", "parse_challenges", "usable_bearer"]

_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@record(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and parameters (names lower case)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(values: Sequence[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (RFC 7235 §4.1) into challenges.

    Handles several challenges in one header, quoted strings with commas and backslash escapes, and token68.
    Each header value is parsed on its own, as Docker's parser does (github.com/distribution/distribution,
    ``internal/client/auth/challenge/authchallenge.go`` ``parseAuthHeader``): a malformed value loses only the
    challenge it breaks (and any after it in the same value), and every challenge that parses is kept, so a
    second header ``Basic realm=/`` beside a good ``Bearer`` challenge does not abort authentication.

    Unlike Docker's parser, a challenge with a malformed parameter is dropped whole rather than kept with the
    parameters read before the fault: a Bearer challenge cut short could lose its ``service`` or ``scope``
    and send a token request the registry did not ask for.

    Raises only :class:`ChallengeError`, and only when nothing parses at all and some value was malformed
    (the first fault is reported). Empty input gives no challenges.
    """
    challenges: list[Challenge] = []
    first_error: ChallengeError | None = None
    for value in values:
        if len(value) > 16 * 1024:
            first_error = first_error or ChallengeError("WWW-Authenticate header too long")
            continue
        parsed, error = _parse_one_header(value)
        challenges.extend(parsed)
        first_error = first_error or error
    if not challenges and first_error is not None:
        raise first_error
    return challenges


def usable_bearer(challenges: Sequence[Challenge]) -> Challenge | None:
    """The first Bearer challenge that has a realm: the one to answer (a realm-less one cannot be).

    With a realm-less Bearer beside a Basic challenge, Basic is answered instead of failing: a challenge the
    flow cannot use is skipped like one that does not parse (#13 item 4).
    """
    return next((c for c in challenges if c.scheme == "bearer" and c.realm), None)


def _parse_one_header(text: str) -> tuple[list[Challenge], ChallengeError | None]:
    """The challenges of one header value that parse completely, and the fault that stopped it (if any)."""
    out: list[Challenge] = []
    try:
        _parse_into(text, out)
    except ChallengeError as exc:
        return out, exc  # ``out`` holds only completed challenges: the broken one never got appended
    return out, None


def _parse_into(text: str, out: list[Challenge]) -> None:
    """Append each challenge of ``text`` to ``out`` as it completes; raise :class:`ChallengeError` at a fault."""
    cursor = _Cursor(text)
    scheme: str | None = None
    params: dict[str, str] = {}
    i = 0
    while True:
        i = cursor.next_item(i)
        if i >= cursor.n:
            break
        token, j = cursor.token(i)
        if not token:
            raise ChallengeError(f"unexpected character {escape(text[i])!r} in WWW-Authenticate")
        k = cursor.skip_ws(j)
        if scheme is not None and cursor.equals_at(k):
            i = cursor.param(token.lower(), k, params)  # an auth-param of the current challenge
            continue
        # a new challenge starts with its scheme
        if scheme is not None:
            out.append(Challenge(scheme, params))
        scheme, params = token.lower(), {}
        i = cursor.token68(k, params)
    if scheme is not None:
        out.append(Challenge(scheme, params))


class _Cursor:
    """Positions in one ``WWW-Authenticate`` value (RFC 7235 §2.1, §4.1); each method returns where it stopped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def skip_ws(self, j: int) -> int:
        while j < self.n and self.text[j] in " \t":
            j += 1
        return j

    def next_item(self, j: int) -> int:
        """Past whitespace and empty list elements (``, ,``)."""
        j = self.skip_ws(j)
        while j < self.n and self.text[j] == ",":
            j = self.skip_ws(j + 1)
        return j

    def token(self, j: int) -> tuple[str, int]:
        start = j
        while j < self.n and self.text[j] in _TCHAR:
            j += 1
        return self.text[start:j], j

    def equals_at(self, k: int) -> bool:
        """An ``=`` that starts a parameter's value (``==`` is the padding of a token68)."""
        text = self.text
        return k < self.n and text[k] == "=" and not (k + 1 < self.n and text[k + 1] == "=")

    def param(self, name: str, k: int, params: dict[str, str]) -> int:
        """Read ``name=value`` from the ``=`` at ``k`` into ``params``; return the index of the ``,`` or end."""
        k = self.skip_ws(k + 1)
        if k < self.n and self.text[k] == '"':
            quoted = quoted_string(self.text, k)
            if quoted is None:
                raise ChallengeError("unterminated quoted string in WWW-Authenticate")
            value, k = quoted
        else:
            value, k = self.token(k)
            if not value:
                raise ChallengeError(f"missing value for parameter {escape(name)!r} in WWW-Authenticate")
        if name in params:
            raise ChallengeError(f"duplicate parameter {escape(name)!r} in WWW-Authenticate")
        params[name] = value
        i = self.skip_ws(k)
        if i < self.n and self.text[i] != ",":
            raise ChallengeError("expected ',' between WWW-Authenticate parameters")
        return i

    def token68(self, i: int, params: dict[str, str]) -> int:
        """After a scheme: a token68 (e.g. ``Negotiate abc==``) kept as a parameter of its own, or nothing when
        the first auth-param follows (the loop reads it)."""
        if i >= self.n or self.text[i] == ",":
            return i
        peek, p = self.token(i)
        if peek and self.equals_at(self.skip_ws(p)):
            return i
        start = i
        while i < self.n and self.text[i] != ",":
            i += 1
        params["token68"] = self.text[start:i].strip()
        return i
