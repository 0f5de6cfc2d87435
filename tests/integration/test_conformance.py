"""#13: ocireg agrees with the reference implementations, through the CLI against the rig.

Each test names the issue item it covers; the transcribed reference cases themselves are unit tests
(``tests/unit/test_conformance_*.py``, each citing repository, path and commit).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import Rule, add_header, paginate, rewrite_header
from rig.proxy_fixtures import FaultProxyFactory
from rig.seed import SeededManifest
from rig.tokenserver import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
PROJECT = "group/project"
# Inside project group/project (alice may pull), away from the seeded repository's tag list.
VARIANTS_REPO = f"{PROJECT}/variants"

# The index: a v3 build listed first, the baseline amd64 image second, and an arm64/v9 build.
VARIANT_PLATFORMS = (("linux", "amd64", "v3"), ("linux", "amd64", None), ("linux", "arm64", "v9"))


@pytest.fixture(scope="module")
def variant_index(token_rig: Rig) -> SeededManifest:
    """An OCI index ``group/project/variants:variants-<random>`` with the children [amd64/v3, amd64, arm64/v9] (raw seeding)."""
    with token_rig.pusher() as pusher:
        return pusher.push_index(
            VARIANTS_REPO, f"variants-{secrets.token_hex(3)}", label="variants", platforms=VARIANT_PLATFORMS
        )


def _child(index: SeededManifest, arch: str, variant: str | None) -> SeededManifest:
    return next(c for c in index.children if c.platform is not None and c.platform[1:] == (arch, variant))


# ---------------------------------------------------------------------------------------------- item 1


@pytest.mark.parametrize(
    ("asked", "arch", "variant"),
    [
        ("linux/amd64", "amd64", None),  # the issue: not the first entry (amd64/v3)
        ("linux/amd64/v1", "amd64", None),
        ("linux/amd64/v3", "amd64", "v3"),
        ("linux/arm64/v9.0", "arm64", "v9"),
    ],
)
def test_pc_digest_platform_takes_the_exact_variant(
    token_rig: Rig, variant_index: SeededManifest, asked: str, arch: str, variant: str | None
) -> None:
    """#13 item 1: ``digest --platform`` follows containerd's strict matcher on an index with variant children."""
    ref = token_rig.ref(VARIANTS_REPO, variant_index.tag or "")
    result = run_cli(["digest", "--platform", asked, ref], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out.strip() == _child(variant_index, arch, variant).digest


def test_pc_digest_platform_without_its_variant_is_absent(
    token_rig: Rig, variant_index: SeededManifest
) -> None:
    """#13 item 1: ``--platform linux/arm64`` never takes arm64/v9: exit 1, the platforms listed, the way out named."""
    ref = token_rig.ref(VARIANTS_REPO, variant_index.tag or "")
    result = run_cli(["digest", "--platform", "linux/arm64", ref], ALICE_ENV)
    assert result.code == 1, result.err
    assert "sha256:" not in result.out
    assert "linux/amd64/v3, linux/amd64, linux/arm64/v9" in result.err
    assert "--platform linux/arm64/v9" in result.err


def test_pc_inspect_platform_takes_the_exact_variant(token_rig: Rig, variant_index: SeededManifest) -> None:
    """#13 item 1: ``inspect --platform linux/amd64`` inspects the baseline child, not amd64/v3."""
    ref = token_rig.ref(VARIANTS_REPO, variant_index.tag or "")
    result = run_cli(["inspect", "-o", "json", "--platform", "linux/amd64", ref], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["digest"] == _child(variant_index, "amd64", None).digest
    missing = run_cli(["inspect", "--platform", "linux/arm64", ref], ALICE_ENV)
    assert missing.code == 1
    assert "linux/arm64/v9" in missing.err


def test_pc_copy_platform_takes_the_exact_variant(
    token_rig: Rig, open_rig: Rig, variant_index: SeededManifest
) -> None:
    """#13 item 1: ``copy --platform linux/amd64`` copies the baseline child; arm64 without v9 copies nothing."""
    ref = token_rig.ref(VARIANTS_REPO, variant_index.tag or "")
    dst_repo = f"mirror/variants-{secrets.token_hex(3)}"
    result = run_cli(
        ["copy", "--platform", "linux/amd64", ref, f"{open_rig.host}/{dst_repo}:amd64"], ALICE_ENV
    )
    assert result.code == 0, result.err
    response = open_rig.get_manifest(dst_repo, "amd64")
    assert response.status_code == 200
    assert response.content == _child(variant_index, "amd64", None).body
    missing = run_cli(
        ["copy", "--platform", "linux/arm64", ref, f"{open_rig.host}/{dst_repo}:arm"], ALICE_ENV
    )
    assert missing.code == 1
    assert open_rig.get_manifest(dst_repo, "arm").status_code == 404


def test_pc_pin_platform_takes_the_exact_variant(
    token_rig: Rig, variant_index: SeededManifest, tmp_path: Path
) -> None:
    """#13 item 1: ``pin --platform linux/amd64`` pins the baseline child (pin and check resolve through
    ``RegistryClient.digest``)."""
    path = tmp_path / "Dockerfile"
    image = f"{token_rig.host}/{VARIANTS_REPO}:{variant_index.tag}"
    path.write_text(f"FROM {image}\n")
    result = run_cli(["pin", "--platform", "linux/amd64", "--write", str(path)], ALICE_ENV)
    assert result.code == 0, result.err
    assert path.read_text() == f"FROM {image}@{_child(variant_index, 'amd64', None).digest}\n"
    refused = run_cli(["pin", "--platform", "linux/arm64", "--write", str(path)], ALICE_ENV)
    assert refused.code == 1


# ---------------------------------------------------------------------------------------------- item 4


@pytest.mark.parametrize("malformed", ["Basic realm=/", 'Basic realm="unterminated', '"Basic" "realm"=/'])
def test_bi_malformed_second_challenge_does_not_abort_auth(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory, malformed: str
) -> None:
    """#13 item 4: the registry's Bearer challenge plus a second ``WWW-Authenticate`` header that does not parse
    (added by the fault proxy): the token flow still runs (exit 0), for exists, digest and auth explain."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("*", r"^/v2/", add_header("WWW-Authenticate", malformed)))
    ref = f"{proxy.netloc}/{PROJECT}:oci"
    plain = ["--plain-http", proxy.netloc]
    exists = run_cli(["exists", *plain, ref], ALICE_ENV)
    assert exists.code == 0, exists.err
    digest = run_cli(["digest", *plain, ref], ALICE_ENV)
    assert digest.code == 0, digest.err
    assert digest.out.strip() == token_rig.seeded.digest(PROJECT, "oci")
    explain = run_cli(["auth", "explain", *plain, ref], ALICE_ENV)
    assert explain.code == 0, explain.err
    assert ALICE_PASSWORD not in exists.both + digest.both + explain.both


def test_bi_only_malformed_challenges_is_a_registry_error(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#13 item 4: when no challenge parses, ocireg still fails as before: a registry fault (exit 6), not absent."""
    proxy = fault_proxy_factory(token_rig.url)
    proxy.add_rule(Rule("*", r"^/v2/", rewrite_header("WWW-Authenticate", "Basic realm=/")))
    result = run_cli(["exists", "--plain-http", proxy.netloc, f"{proxy.netloc}/{PROJECT}:oci"], ALICE_ENV)
    assert result.code == 6, result.err
    assert "WWW-Authenticate" in result.err


# ---------------------------------------------------------------------------------------------- item 5


def test_bi_long_repository_path_on_a_long_host_reaches_the_registry(open_rig: Rig) -> None:
    """#13 item 5: a long path is valid whatever the host's length (host + path > 255): digest reaches the
    registry instead of refusing the reference (exit 2 before); a path over 255 is still refused."""
    # 242 characters: as long as distribution 2.8 itself takes (it answers 500 from about 245 on)
    path = "group/" + "/".join(["p" * 60] * 3) + "/" + "q" * 53
    assert len(path) == 242
    with open_rig.pusher() as pusher:
        seeded = pusher.push_image(path, "v1", label="long-path")
    ref = f"{open_rig.host}/{path}:v1"
    assert len(ref.rsplit(":", 1)[0]) > 255
    result = run_cli(["digest", ref])
    assert result.code == 0, result.err
    assert result.out.strip() == seeded.digest
    too_long = run_cli(["exists", f"{open_rig.host}/{path}{'q' * 14}:v1"])
    assert too_long.code == 2
    assert "longer than 255" in too_long.err


# ---------------------------------------------------------------------------------------------- item 6


def test_sec_dot_localhost_registry_falls_back_to_plain_http(
    open_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#13 item 6: ``registry.localhost:PORT`` is loopback (RFC 6761) and, like ``localhost``, falls back to
    plain HTTP when its port does not speak TLS. The machine's resolver is made to answer ``*.localhost`` with
    127.0.0.1, as systemd-resolved and RFC 6761 §6.3 resolvers do (glibc's files+dns here does not)."""
    real = socket.getaddrinfo

    def rfc6761(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode("ascii") if isinstance(host, bytes) else host  # ocireg dials ASCII hosts as bytes
        if name in ("registry.localhost", "notlocalhost.example"):  # only loopback is ever contacted
            host = "127.0.0.1"
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rfc6761)
    port = open_rig.host.rpartition(":")[2]
    ref = f"registry.localhost:{port}/{PROJECT}:oci"
    result = run_cli(["digest", "--no-token-cache", ref])
    assert result.code == 0, result.err
    assert result.out.strip() == open_rig.seeded.digest(PROJECT, "oci")
    # Not a suffix match: a name merely ending in "localhost" is not loopback and gets no plain-HTTP fallback
    # (even though it resolves to 127.0.0.1 here: the name decides, as for any other registry).
    other = run_cli(["digest", "--no-token-cache", f"notlocalhost.example:{port}/{PROJECT}:oci"])
    assert other.code == 5


# ---------------------------------------------------------------------------------------------- item 7


def _with_broken_link_value(old: str | None) -> str | None:
    return f'</v2/elsewhere> rel=broken, {old}, <unclosed; rel="x' if old else None


def test_bi_link_with_a_malformed_value_still_pages(
    token_rig: Rig, fault_proxy_factory: FaultProxyFactory
) -> None:
    """#13 item 7: the proxy pages tags two at a time and puts malformed link-values before and after each
    ``rel="next"``: every tag still comes back, exactly once."""
    repo = f"{PROJECT}/paged-{secrets.token_hex(3)}"  # its own repository: other tests add tags to PROJECT
    expected = [f"t{i}" for i in range(7)]
    with token_rig.pusher() as pusher:
        image = pusher.push_image(repo, expected[0], label="paged")
        for tag in expected[1:]:
            pusher.tag(image, tag)
    proxy = fault_proxy_factory(token_rig.url)
    proxy.set_rules(
        [
            Rule(
                "GET",
                r"/tags/list",
                [
                    paginate(2),
                    rewrite_header("Link", _with_broken_link_value),
                ],
            )
        ]
    )
    result = run_cli(
        ["tags", "-o", "json", "--sort", "none", "--plain-http", proxy.netloc, f"{proxy.netloc}/{repo}"],
        ALICE_ENV,
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["tags"] == expected
    assert proxy.count("GET", r"/tags/list") >= len(expected) // 2


# ---------------------------------------------------------------------------------------------- items 2, 3


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _write(path: Path, auths: dict[str, dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths}))
    return path


def test_sec_podman_persistent_auth_file_is_read(token_rig: Rig, isolated_env: Path) -> None:
    """#13 item 2: ``${XDG_CONFIG_HOME}/containers/auth.json`` (podman's file on macOS, rootless) is read: the
    private image is found with alice's login there (before: anonymous, access denied)."""
    path = _write(
        Path(os.environ["XDG_CONFIG_HOME"]) / "containers" / "auth.json",
        {token_rig.host: _auth(ALICE, ALICE_PASSWORD)},
    )
    result = run_cli(["exists", token_rig.ref(PROJECT, "oci")])
    assert result.code == 0, result.err
    explain = run_cli(["auth", "explain", token_rig.ref(PROJECT, "oci")])
    assert explain.code == 0, explain.err
    assert str(path) in explain.out
    assert ALICE_PASSWORD not in result.both + explain.both


def test_sec_per_repository_key_wins_over_the_host_key(token_rig: Rig) -> None:
    """#13 item 3: in podman's auth.json, ``host/group/project`` (alice) wins for that project over ``host``
    (bob, no rights there); other repositories get bob's host entry; ``auth explain`` names the key that matched."""
    host = token_rig.host
    _write(
        Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json",
        {host: _auth(BOB, BOB_PASSWORD), f"{host}/{PROJECT}": _auth(ALICE, ALICE_PASSWORD)},
    )
    assert run_cli(["exists", token_rig.ref(PROJECT, "oci")]).code == 0
    nested = run_cli(["exists", token_rig.ref("group/sub/project/image", "latest")])
    assert nested.code == 4, nested.err  # bob: denied (the namespace key does not cover group/sub)
    explain = run_cli(["auth", "explain", "-o", "json", token_rig.ref(PROJECT, "oci")])
    assert explain.code == 0, explain.err
    outcomes = [row["outcome"] for row in json.loads(explain.out)["credentials"]["sources"]]
    assert any(f"key '{host}/{PROJECT}'" in o and "user 'alice'" in o for o in outcomes), outcomes
    # One batch, two repositories, two accounts: each reference is asked with its own credential.
    batch = run_cli(["exists", token_rig.ref(PROJECT, "oci"), token_rig.ref("public/app", "latest")])
    assert batch.code == 0, batch.err
    assert ALICE_PASSWORD not in explain.both + batch.both
    assert BOB_PASSWORD not in explain.both + batch.both


def test_sec_docker_config_matches_by_host_only(token_rig: Rig) -> None:
    """#13 item 3, as Docker reads its own file: a ``host/group/project`` key in ``~/.docker/config.json`` is not
    read (bob's host entry is used, exit 4), and ``auth explain`` lists the key it did not read."""
    host = token_rig.host
    _write(
        Path(os.environ["DOCKER_CONFIG"]) / "config.json",
        {host: _auth(BOB, BOB_PASSWORD), f"{host}/{PROJECT}": _auth(ALICE, ALICE_PASSWORD)},
    )
    result = run_cli(["exists", token_rig.ref(PROJECT, "oci")])
    assert result.code == 4, result.err
    explain = run_cli(["auth", "explain", token_rig.ref(PROJECT, "oci")])
    assert "per-repository keys are not read here" in explain.out
    assert f"'{host}/{PROJECT}'" in explain.out


@pytest.mark.parametrize("command", ["digest", "copy"])
def test_pc_platform_on_a_single_platform_image_is_checked_against_its_config(
    token_rig: Rig, open_rig: Rig, command: str
) -> None:
    """PC, #13 item 1: ``--platform`` on a single-platform image is answered from its config by the same strict
    matcher — linux/amd64 matches it, linux/arm64 is PlatformNotFound (exit 1) naming what the image is."""
    ref = token_rig.ref("group/project", "oci")
    extra = [f"{open_rig.host}/mirror/single-{secrets.token_hex(3)}:x"] if command == "copy" else []
    good = run_cli([command, "--platform", "linux/amd64", ref, *extra], ALICE_ENV)
    assert good.code == 0, good.err
    wrong = run_cli([command, "--platform", "linux/arm64", ref, *extra], ALICE_ENV)
    assert wrong.code == 1, wrong.err
    assert "single-platform image for linux/amd64, not linux/arm64" in wrong.err
