"""Pytest fixtures for the fault proxy and the credential sink.

Why a separate module: tests/conftest.py belongs to the lead, who imports these names into it
(``from rig.proxy_fixtures import fault_proxy_factory, sink, sink_factory``).  Every server started here
is stopped at teardown, so no thread or port outlives its test.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from .faultproxy import FaultProxy
from .sink import Sink

__all__ = ["FaultProxyFactory", "SinkFactory", "fault_proxy_factory", "sink", "sink_factory"]


class FaultProxyFactory(Protocol):
    """Signature of the ``fault_proxy_factory`` fixture's value."""

    def __call__(
        self,
        upstream_url: str,
        ca_file: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> FaultProxy: ...


SinkFactory = Callable[..., Sink]


@pytest.fixture
def fault_proxy_factory() -> Iterator[FaultProxyFactory]:
    """Start ``FaultProxy(upstream_url, ca_file=..., tls_context=..., **kwargs)``; all stopped at teardown."""
    started: list[FaultProxy] = []

    def make(
        upstream_url: str,
        ca_file: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> FaultProxy:
        proxy = FaultProxy(upstream_url, ca_file=ca_file, tls_context=tls_context, **kwargs)
        proxy.start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in reversed(started):
        proxy.stop()


@pytest.fixture
def sink_factory() -> Iterator[SinkFactory]:
    """Start ``Sink(tls_context=..., host=...)`` (HTTPS variants); all stopped at teardown."""
    started: list[Sink] = []

    def make(**kwargs: Any) -> Sink:
        server = Sink(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A started plain-HTTP sink on 127.0.0.2 (or .3, or 127.0.0.1 with ``fallback`` set)."""
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()
