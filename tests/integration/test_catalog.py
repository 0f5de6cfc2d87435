"""Issue #3 acceptance: `ocireg catalog` and ``RegistryClient.catalog`` against the real rig (PC, BI)."""

from __future__ import annotations

import json

from ocireg.client import RegistryClient
from ocireg.credentials import Credential
from ocireg.reference import parse_registry

from clirunner import creds, run_cli
from rig import BASIC_PASSWORD, BASIC_USER, Rig
from rig.faultproxy import FaultProxy, Rule, paginate
from rig.proxy_fixtures import fault_proxy_factory  # noqa: F401
from rig.tokenserver import ALICE, ALICE_PASSWORD, ROOT, ROOT_PASSWORD

ROOT_ENV = creds(ROOT, ROOT_PASSWORD)


def test_pc_catalog_admin_lists_seeded_repositories(token_rig: Rig) -> None:
    """PC: with admin credentials (registry:catalog:* granted) the seeded repositories are listed."""
    result = run_cli(["catalog", "-o", "json", token_rig.host], ROOT_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert (doc["schema"], doc["command"], doc["registry"]) == (1, "catalog", token_rig.host)
    assert set(token_rig.seeded.repos()) <= set(doc["repositories"])
    assert doc["count"] == len(doc["repositories"]) == len(set(doc["repositories"]))
    text = run_cli(["catalog", token_rig.host], ROOT_ENV)
    assert text.code == 0
    assert text.out.splitlines() == doc["repositories"]


def test_pc_catalog_non_admin_exit_4_with_hint(token_rig: Rig) -> None:
    """PC: alice gets an empty-access token, the registry says insufficient_scope: exit 4 naming the scope."""
    result = run_cli(["catalog", token_rig.host], creds(ALICE, ALICE_PASSWORD))
    assert result.code == 4, result.err
    assert result.out == ""
    assert "registry:catalog:*" in result.err
    assert "administrators" in result.err
    assert "hint:" in result.err
    anonymous = run_cli(["catalog", token_rig.host])
    assert anonymous.code == 4
    assert "registry:catalog:*" in anonymous.err
    assert ALICE_PASSWORD not in result.both


def test_pc_catalog_real_link_pagination_library(token_rig: Rig) -> None:
    """PC: distribution paginates the catalog itself (n, last, Link): page_size=1 returns the same list."""
    registry = parse_registry(token_rig.host)
    with RegistryClient(Credential(username=ROOT, password=ROOT_PASSWORD)) as client:
        whole = client.catalog(registry)
        before = client.transport.request_count
        paged = client.catalog(registry, page_size=1)
        requests = client.transport.request_count - before
        limited = client.catalog(registry, limit=2, page_size=5)
    assert paged == whole
    assert len(whole) >= 3
    assert requests >= len(whole)  # one page per repository: the registry's own Link headers were followed
    assert limited == whole[:2]


def test_pc_catalog_limit_through_paginating_proxy(token_rig: Rig, fault_proxy_factory: object) -> None:  # noqa: F811
    """PC: --limit stops reading pages once it has enough (proxy pages of 1)."""
    proxy: FaultProxy = fault_proxy_factory(token_rig.url)  # type: ignore[operator]
    proxy.set_rules([Rule("GET", r"/v2/_catalog", paginate(1))])
    result = run_cli(["catalog", "--limit", "2", "-o", "json", proxy.netloc], ROOT_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert len(doc["repositories"]) == 2
    assert proxy.count("GET", r"/v2/_catalog") <= 3  # 401 challenge + 2 pages
    everything = run_cli(["catalog", "-o", "json", proxy.netloc], ROOT_ENV)
    assert everything.code == 0
    assert set(token_rig.seeded.repos()) <= set(json.loads(everything.out)["repositories"])


def test_pc_catalog_basic_and_open_registries(basic_rig: Rig, open_rig: Rig) -> None:
    """PC: a Basic-auth registry and an open one list their catalog to whoever may read it."""
    basic = run_cli(["catalog", basic_rig.host], creds(BASIC_USER, BASIC_PASSWORD))
    assert basic.code == 0, basic.err
    assert set(basic_rig.seeded.repos()) <= set(basic.out.splitlines())
    no_password = run_cli(["catalog", basic_rig.host])
    assert no_password.code == 4  # nothing sent, refused: access denied (#22 item 5)
    opened = run_cli(["catalog", open_rig.host])
    assert opened.code == 0, opened.err
    assert set(open_rig.seeded.repos()) <= set(opened.out.splitlines())


def test_bi_catalog_bad_registry_argument() -> None:
    """BI: a registry argument with a path, scheme or nothing at all is a usage error (exit 2)."""
    for argv in (["https://registry.example.com"], ["registry.example.com/group"], []):
        result = run_cli(["catalog", *argv])
        assert result.code == 2, argv
        assert "Traceback" not in result.err
