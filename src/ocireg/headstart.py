"""TCP connections begun before the code that will use them is loaded (#25; docs/architecture.md §1, "HTTP").

A cold check spends its first ≈ 25 ms importing the modules that will speak to the registry its command line
names, and only then opens the connection. :class:`HeadStart` opens that TCP connection on a thread of its own
meanwhile; the connection pool and the loopback scheme probe take it for their first connection to that address
(:meth:`HeadStart.connect`) instead of dialling anew. It is TCP only: no byte is sent on it here, and TLS, the
proxy rules, realm validation and every other policy stay where they are. A connection begun and never taken
closes with the process. The CLI decides what to begin (``ocireg.cli.headstart``); a library caller passes
nothing and nothing changes.
"""

from __future__ import annotations

import socket
from _thread import allocate_lock, start_new_thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _thread import LockType

__all__ = ["HeadStart", "dial"]

Address = tuple[str, int]


def dial(address: Address, timeout: float) -> socket.socket:
    """``socket.create_connection(address, timeout=timeout)`` with an ASCII host given as bytes: a ``str`` host makes
    ``getaddrinfo()`` import the IDNA codec (``encodings.idna``, ``stringprep``: ≈ 1–2 ms of every run, measured
    in bench/RESULTS.md), and the hosts here are ASCII already (``ocireg.connection.split_url`` applies IDNA)."""
    host, port = address
    name = host.encode("ascii") if host.isascii() else host  # getaddrinfo() takes bytes; typeshed says str
    return socket.create_connection((name, port), timeout=timeout)  # type: ignore[arg-type]


class _Pending:
    __slots__ = ("done", "error", "sock")

    def __init__(self) -> None:
        self.done: LockType = allocate_lock()
        self.done.acquire()  # released by the dialling thread when it has a connection or an error
        self.sock: socket.socket | None = None
        self.error: OSError | None = None


class HeadStart:
    """TCP connections begun ahead, each taken at most once; thread-safe."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._lock = allocate_lock()
        self._dials: dict[Address, _Pending] = {}
        self.begun: list[Address] = []
        """Every address a connection was begun to, in order (``--debug`` and tests)."""
        self.taken: list[Address] = []
        """Every address whose begun connection was taken (tests: it carried the first request)."""

    def begin(self, host: str, port: int) -> None:
        """Start connecting to ``(host, port)`` on a thread of its own; nothing if begun already."""
        address = (host, port)
        with self._lock:
            if address in self._dials or address in self.begun:
                return
            pending = self._dials[address] = _Pending()
            self.begun.append(address)
        start_new_thread(self._dial, (address, pending))

    def _dial(self, address: Address, pending: _Pending) -> None:
        try:
            pending.sock = dial(address, self._timeout)
        except OSError as exc:
            pending.error = exc  # the caller's to report, as if it had dialled itself
        finally:
            pending.done.release()

    def connect(self, address: Address, timeout: float) -> socket.socket:
        """``socket.create_connection(address, timeout=timeout)``, served by the connection begun to ``address`` if
        there is one (once: a second connection dials anew). Waits for it at most ``timeout`` seconds, as a
        connect of its own would; a begun connection that failed raises its error rather than dialling again
        (a name that does not resolve would otherwise cost its resolver's timeout twice; the transport's own
        retries dial afresh)."""
        with self._lock:
            pending = self._dials.pop(address, None)
        if pending is not None:
            if not pending.done.acquire(True, timeout):
                raise TimeoutError(f"timed out connecting to {address[0]}:{address[1]}")
            if pending.error is not None:
                raise pending.error
            sock = pending.sock
            if sock is not None:
                sock.settimeout(timeout)
                with self._lock:
                    self.taken.append(address)
                return sock
        return dial(address, timeout)
