"""#25: connections begun before the command line is parsed (``ocireg.headstart``, ``ocireg.cli.headstart``).

What the command line is read for (PC: the first connection overlaps start-up), what it is never read for (SEC:
no connection to a realm a token request would refuse, none through a configured proxy), and the library object
on real loopback sockets (LD: a begun connection carries the first request and is taken once; FT: a dead port
reports as a dial of its own would).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ocireg.cli.headstart import begin, realm_address, registry_address
from ocireg.headstart import HeadStart

CI = {
    "GITLAB_CI": "true",
    "CI_REGISTRY": "registry.gitlab.example:5050",
    "CI_REGISTRY_IMAGE": "registry.gitlab.example:5050/group/project",
    "CI_SERVER_URL": "https://gitlab.example",
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["exists", "registry.example.com/group/app:v1"], ("registry.example.com", 443)),
        (["exists", "Registry.Example.com:5000/app@sha256:" + "a" * 64], ("registry.example.com", 5000)),
        (["digest", "localhost/app"], ("localhost", 443)),
        (["tags", "127.0.0.1:5000/group/app"], ("127.0.0.1", 5000)),
        (["exists", "docker.io/library/alpine:3"], ("registry-1.docker.io", 443)),
        # option values before the reference are not taken for it
        (
            ["exists", "--ca-file", "./certs/ca.pem", "--platform", "linux/arm64", "r.example/app"],
            ("r.example", 443),
        ),
        (["exists", "--plain-http", "r.example", "r.example/app"], ("r.example", 80)),
        (["exists", "--plain-http=r.example", "r.example/app"], ("r.example", 80)),
    ],
)
def test_pc_the_registry_of_the_first_reference(argv: list[str], expected: tuple[str, int]) -> None:
    assert registry_address(argv, {}) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["exists", "alpine:3"],  # a Docker Hub path, and an option's value looks like one just as well
        ["exists", "group/app:v1"],
        ["exists", "--from-file", "refs.txt"],
        ["exists", ":v1"],  # the CI shorthand outside a job
        ["exists", "[::1]:5000/app"],  # IPv6 literals: no head start
        ["exists", "r.example:99999/app"],
        ["exists", "bad_host!.example/app"],
    ],
)
def test_pc_nothing_plain_is_nothing_begun(argv: list[str]) -> None:
    assert registry_address(argv, {}) is None


def test_pc_the_ci_shorthand_inside_a_job() -> None:
    assert registry_address(["exists", ":v1.2.3"], CI) == ("registry.gitlab.example", 5050)
    assert registry_address(["exists", "@sha256:" + "b" * 64], CI) == ("registry.gitlab.example", 5050)


def test_pc_the_predicted_realm_of_the_job_registry_only() -> None:
    registry = ("registry.gitlab.example", 5050)
    assert realm_address(registry, ["exists", ":v1"], CI) == ("gitlab.example", 443)
    assert realm_address(("other.example", 443), ["exists", "other.example/app"], CI) is None
    assert (
        realm_address(registry, ["exists", ":v1"], {k: v for k, v in CI.items() if k != "GITLAB_CI"}) is None
    )


def test_sec_no_connection_to_a_realm_a_token_request_would_refuse() -> None:
    """SEC (docs/architecture.md §4): the predicted realm is validated as a token request validates it, with
    the registry's scheme as the command line gives it; an http realm for an https registry is never dialled."""
    registry = ("registry.gitlab.example", 5050)
    plain_server = {**CI, "CI_SERVER_URL": "http://gitlab.example"}
    assert realm_address(registry, ["exists", ":v1"], plain_server) is None
    loopback = {**CI, "CI_SERVER_URL": "https://127.0.0.9"}  # a loopback realm for a public registry: refused
    assert realm_address(registry, ["exists", ":v1"], loopback) is None
    # With the registry itself plain HTTP (--plain-http), an http realm is what a token request accepts too.
    argv = ["exists", "--plain-http", "registry.gitlab.example:5050", ":v1"]
    assert realm_address(registry, argv, plain_server) == ("gitlab.example", 80)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["exists", "--help"], {}),
        (["login", "r.example/app"], {}),
        (["exists", "r.example/app"], {"HTTPS_PROXY": "http://proxy.example:3128"}),
        (["exists", "r.example/app"], {"http_proxy": "http://proxy.example:3128"}),
        (["exists", "r.example/app"], {"OCIREG_TEST_CONNECT_TO": "r.example:443:127.0.0.1:5000"}),
        ([], {}),
    ],
)
def test_sec_nothing_begun_for_help_other_commands_or_a_proxy(argv: list[str], env: dict[str, str]) -> None:
    """SEC: with a proxy the pool connects to the proxy, not the host: a direct connection would bypass it."""
    assert begin(argv, env) is None


# -- the library object on real sockets -----------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server, accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def _echo_once(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    return conn.recv(16)


def test_ld_a_begun_connection_carries_the_first_request_once(
    listener: tuple[socket.socket, list[socket.socket]],
) -> None:
    server, accepted = listener
    address = server.getsockname()[:2]
    start = HeadStart()
    start.begin(*address)
    start.begin(*address)  # once per address
    first = start.connect(address, 5)
    first.sendall(b"one")
    second = start.connect(address, 5)  # taken already: a dial of its own
    second.sendall(b"two")
    for sock in (first, second):
        sock.close()
    assert start.begun == [address] and start.taken == [address]
    deadline = threading.Event()
    for _ in range(50):
        if len(accepted) == 2:
            break
        deadline.wait(0.1)
    assert sorted(_echo_once(c) for c in accepted) == [b"one", b"two"]


def test_ft_a_dead_port_is_reported_as_a_dial_of_its_own_would_be() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()[:2]
    start = HeadStart()
    start.begin(*address)
    with pytest.raises(ConnectionRefusedError):
        start.connect(address, 5)
    assert start.taken == []


def test_ft_a_failed_begun_connection_is_reported_not_dialled_twice() -> None:
    """FT: a begun connection that failed raises its own error (a name that does not resolve must not cost the
    resolver's timeout twice); the next connection to that address, a retry's, dials afresh."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()[:2]
    start = HeadStart()
    start.begin(*address)
    pending = start._dials[address]
    assert pending.done.acquire(True, 10)  # the begun dial has failed: nothing listened
    pending.done.release()
    server = socket.create_server(address)
    try:
        with pytest.raises(ConnectionRefusedError):
            start.connect(address, 5)  # a second dial now would have reached the server
        start.connect(address, 5).close()  # a retry dials afresh
    finally:
        server.close()
    assert start.taken == []
