"""Issue #3 acceptance: `ocireg tags` against the real registry rig (PC, BI, SEC, LD).

distribution 2.8 ignores ``n`` and answers every tag in one page, so Link pagination is exercised through the
fault proxy's ``paginate`` rule (OCI-style pages with relative ``Link: <...>; rel="next"``), and hostile pages
(foreign links, loops, bad JSON, escape sequences) through ``rewrite_header`` / ``replace_body``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from clirunner import creds, run_cli
from rig import ManyTags, Rig
from rig.faultproxy import FaultProxy, Rule, paginate, replace_body, rewrite_header
from rig.proxy_fixtures import fault_proxy_factory, sink  # noqa: F401
from rig.sink import Sink
from rig.tokenserver import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
SEMVER_REPO = "group/project/semver"
SEMVER_TAGS = ("v1.2.0", "v1.10.0", "v1.9.9", "latest", "1.10.0-rc1")
PRE_REPO = "group/project/prerelease"
PRE_TAGS = ("v1.0.0", "v2.0.0-rc.1", "v2.0.0-alpha", "nightly")


def _push_tags(rig: Rig, repo: str, tags: Sequence[str]) -> None:
    with rig.pusher() as pusher:
        image = pusher.push_image(repo, tags[0], label=f"tags-{repo}")
        for tag in tags[1:]:
            pusher.tag(image, tag)


@pytest.fixture(scope="module")
def semver_repo(token_rig: Rig) -> str:
    _push_tags(token_rig, SEMVER_REPO, SEMVER_TAGS)
    _push_tags(token_rig, PRE_REPO, PRE_TAGS)
    return f"{token_rig.host}/{SEMVER_REPO}"


def _tags_json(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    result = run_cli(["tags", "-o", "json", *argv], ALICE_ENV if env is None else env)
    assert "Traceback" not in result.err
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    assert doc["command"] == "tags"
    return result.code, doc


def _proxy(factory: object, rig: Rig, rules: Sequence[Rule]) -> FaultProxy:
    proxy: FaultProxy = factory(rig.url)  # type: ignore[operator]
    proxy.set_rules(list(rules))
    return proxy


# --------------------------------------------------------------------------------------------- PC: listing


def test_pc_tags_1500_exactly_once(token_rig: Rig, many_tags_repo: ManyTags) -> None:
    """PC: tags on the 1,500-tag repository (one page on 2.8) returns all 1,500 exactly once, sorted."""
    code, doc = _tags_json([f"{token_rig.host}/{many_tags_repo.repo}"])
    assert code == 0
    tags = doc["tags"]
    assert isinstance(tags, list)
    assert len(tags) == 1500
    assert tags == sorted(many_tags_repo.tags)
    assert doc["total"] == 1500


def test_pc_tags_link_pagination_through_proxy(
    token_rig: Rig,
    many_tags_repo: ManyTags,
    fault_proxy_factory: object,  # noqa: F811
) -> None:
    """PC: through a proxy paginating with Link (n=100) the same 1,500 tags come back in <= 16 requests."""
    proxy = _proxy(fault_proxy_factory, token_rig, [Rule("GET", r"/tags/list", paginate(100))])
    code, doc = _tags_json([f"{proxy.netloc}/{many_tags_repo.repo}", "--sort", "none"])
    assert code == 0
    assert doc["tags"] == list(many_tags_repo.tags)  # registry order kept with --sort none, no duplicates
    pages = proxy.count("GET", r"/tags/list")
    assert 15 <= pages <= 16, pages  # 15 pages (+1 for the initial 401 challenge)
    assert proxy.count("GET", r"/tags/list\?n=1000") >= 1  # we asked for n=1000; the proxy's 100 won


def test_pc_tags_of_the_seeded_repository_and_null_list(token_rig: Rig) -> None:
    """PC: the seeded repository's tags; a repository whose only tag was deleted answers "tags": null = empty."""
    code, doc = _tags_json([f"{token_rig.host}/group/project"])
    assert code == 0
    assert doc["tags"] == list(token_rig.seeded.tags("group/project"))
    repo = "group/project/emptied"
    with token_rig.pusher() as pusher:
        image = pusher.push_image(repo, "gone", label="emptied")
        deleted = pusher.client.delete(
            f"{token_rig.url}/v2/{repo}/manifests/{image.digest}",
            headers={"Authorization": token_rig.bearer(repo, ("pull", "push", "delete"))},
        )
        assert deleted.status_code == 202
        raw = pusher.client.get(
            f"{token_rig.url}/v2/{repo}/tags/list", headers={"Authorization": token_rig.bearer(repo)}
        )
    assert raw.json()["tags"] is None  # the rig really answers null
    code, doc = _tags_json([f"{token_rig.host}/{repo}"])
    assert code == 0
    assert doc["tags"] == []
    text = run_cli(["tags", f"{token_rig.host}/{repo}"], ALICE_ENV)
    assert (text.code, text.out) == (0, "")


def test_pc_tags_unknown_repository_absent_and_outsider_denied(token_rig: Rig) -> None:
    """PC: NAME_UNKNOWN is absent (exit 1); an outsider is denied (exit 4), never 'absent'."""
    absent = run_cli(["tags", f"{token_rig.host}/group/project/nothing-here"], ALICE_ENV)
    assert absent.code == 1, absent.err
    denied = run_cli(["tags", f"{token_rig.host}/group/project"], creds(BOB, BOB_PASSWORD))
    assert denied.code == 4
    assert "hint:" in denied.err


# ------------------------------------------------------------------------------------- PC: query options


def test_pc_tags_latest_gives_highest_release(semver_repo: str) -> None:
    """PC: --latest on v1.2.0 v1.10.0 v1.9.9 latest 1.10.0-rc1 gives v1.10.0 (text: just the tag)."""
    result = run_cli(["tags", "--latest", semver_repo], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out == "v1.10.0\n"
    assert run_cli(["tags", "--latest", "--pre", semver_repo], ALICE_ENV).out == "v1.10.0\n"


def test_pc_tags_latest_pre_admits_prereleases(token_rig: Rig, semver_repo: str) -> None:
    """PC: --latest skips pre-releases unless --pre; with --pre the highest pre-release can win."""
    repo = f"{token_rig.host}/{PRE_REPO}"
    assert run_cli(["tags", "--latest", repo], ALICE_ENV).out == "v1.0.0\n"
    assert run_cli(["tags", "--latest", "--pre", repo], ALICE_ENV).out == "v2.0.0-rc.1\n"
    none = run_cli(["tags", "--latest", "--match", "night*", repo], ALICE_ENV)
    assert none.code == 1
    assert none.out == ""
    assert "no release tag" in none.err


def test_pc_tags_sort_filter_limit(semver_repo: str) -> None:
    """PC: --sort semver (non-semver last), --reverse, --match, --regex, --limit, in the documented order."""
    _, doc = _tags_json(["--sort", "semver", semver_repo])
    assert doc["tags"] == ["v1.2.0", "v1.9.9", "1.10.0-rc1", "v1.10.0", "latest"]
    _, doc = _tags_json(["--sort", "semver", "--reverse", "--limit", "2", semver_repo])
    assert doc["tags"] == ["latest", "v1.10.0"]
    _, doc = _tags_json(["--match", "v1.*", "--regex", r"^v1\.[0-9]\.", semver_repo])
    assert doc["tags"] == ["v1.2.0", "v1.9.9"]
    assert doc["total"] == len(SEMVER_TAGS)
    _, doc = _tags_json(["--sort", "name", semver_repo])
    assert doc["tags"] == sorted(SEMVER_TAGS)


def test_bi_tags_bad_options_are_usage_errors(semver_repo: str) -> None:
    """BI: an invalid regex, --pre without --latest, a bad --limit: exit 2, no traceback."""
    for argv in (["--regex", "(unclosed"], ["--pre"], ["--limit", "0"], ["--sort", "random"]):
        result = run_cli(["tags", *argv, semver_repo], ALICE_ENV)
        assert result.code == 2, argv
        assert "Traceback" not in result.err
    assert run_cli(["tags", "Bad//Repo"], ALICE_ENV).code == 2
    assert run_cli(["tags", "example.com/group/app:tag"], ALICE_ENV).code == 2


def test_ld_tags_digests_bounded_concurrency(
    token_rig: Rig,
    many_tags_repo: ManyTags,
    fault_proxy_factory: object,  # noqa: F811
) -> None:
    """LD: --digests resolves each selected tag (one HEAD each) with at most --jobs requests in flight."""
    proxy = _proxy(fault_proxy_factory, token_rig, [])
    code, doc = _tags_json(
        ["--digests", "--jobs", "4", "--limit", "40", f"{proxy.netloc}/{many_tags_repo.repo}"]
    )
    assert code == 0
    entries = doc["entries"]
    assert isinstance(entries, list)
    assert len(entries) == 40
    assert {e["digest"] for e in entries} == {many_tags_repo.digest}
    assert [e["tag"] for e in entries] == list(many_tags_repo.tags[:40])
    assert proxy.count("HEAD", r"/manifests/") == 40
    assert 1 <= proxy.peak_concurrency <= 4


# -------------------------------------------------------------------------------- BI / SEC: hostile pages


def test_sec_tags_escape_sequences_escaped_in_text_valid_in_json(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
) -> None:
    """SEC (output injection): a tag with ESC/CSI/bidi prints escaped in text and round-trips in JSON."""
    evil = ["v1", "x\u001b[2J\u001b]0;pwned\u0007", "rtl\u202eexe.txt", "c1\u009b31m"]
    body = json.dumps({"name": "group/project", "tags": evil}).encode()
    proxy = _proxy(fault_proxy_factory, token_rig, [Rule("GET", r"/tags/list", replace_body(body))])
    repo = f"{proxy.netloc}/group/project"
    text = run_cli(["tags", "--sort", "none", repo], ALICE_ENV)
    assert text.code == 0, text.err
    assert text.out.splitlines() == ["v1", "x\\x1b[2J\\x1b]0;pwned\\x07", "rtl\\u202eexe.txt", "c1\\x9b31m"]
    assert not any(ord(c) < 0x20 and c != "\n" for c in text.out)
    as_json = run_cli(["tags", "-o", "json", "--sort", "none", repo], ALICE_ENV)
    assert as_json.code == 0
    assert json.loads(as_json.out)["tags"] == evil
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in as_json.out.strip())
    # --digests never puts such a "tag" into a URL: that entry fails as a protocol violation (exit 6).
    digests = run_cli(["tags", "--digests", "--sort", "none", repo], ALICE_ENV)
    assert digests.code == 6
    assert "\u001b" not in digests.out + digests.err


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"name": "group/project", "tags": ["v1", 2]}', "non-string"),
        (b'{"name": "group/project", "tags": "v1"}', "not a list"),
        (b'{"name": "group/project"}', "no 'tags'"),
        (b"<html><body>Sign in to the corporate proxy</body></html>", "not valid JSON"),
        (b'{"name": "group/project", "tags": ["a"], "tags": ["b"]}', "duplicate key"),
        (b'{"tags": [NaN]}', "NaN"),
    ],
)
def test_bi_tags_malformed_page_exit_6(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
    body: bytes,
    fragment: str,
) -> None:
    """BI: non-string tags, HTML with 200, duplicate keys, NaN in a tags page: registry error (exit 6)."""
    proxy = _proxy(fault_proxy_factory, token_rig, [Rule("GET", r"/tags/list", replace_body(body))])
    result = run_cli(["tags", f"{proxy.netloc}/group/project"], ALICE_ENV)
    assert result.code == 6, result.err
    assert fragment in result.err
    assert "Traceback" not in result.err


def test_sec_tags_link_to_another_host_refused(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    """SEC (Link SSRF): a next link to another host is refused (exit 6) and the sink receives nothing."""
    link = f'<{sink.url}/v2/group/project/tags/list?n=1&last=v1>; rel="next"'
    proxy = _proxy(fault_proxy_factory, token_rig, [Rule("GET", r"/tags/list", rewrite_header("Link", link))])
    result = run_cli(["tags", f"{proxy.netloc}/group/project"], ALICE_ENV)
    assert result.code == 6, result.err
    assert "another host" in result.err
    assert sink.requests == []
    assert sink.credentials_received() == []


@pytest.mark.parametrize(
    ("link", "fragment"),
    [
        ('</v2/group/project/tags/list?n=1000>; rel="next"', "loop"),  # the first page again
        ('</v2/group/other/tags/list?n=1&last=a>; rel="next"', "another endpoint"),
        ('<https://{host}/v2/group/project/tags/list?n=1&last=a>; rel="next"', "scheme"),
        ("<unclosed; rel=next", "closing"),
    ],
)
def test_bi_tags_link_variants_refused(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
    link: str,
    fragment: str,
) -> None:
    """BI: Link loops, other endpoints, scheme changes and broken syntax: exit 6, no endless loop."""
    proxy = _proxy(fault_proxy_factory, token_rig, [])
    proxy.set_rules([Rule("GET", r"/tags/list", rewrite_header("Link", link.format(host=proxy.netloc)))])
    result = run_cli(["tags", f"{proxy.netloc}/group/project"], ALICE_ENV)
    assert result.code == 6, result.err
    assert fragment in result.err
    assert proxy.count("GET", r"/tags/list") <= 3


def test_bi_tags_relative_link_without_leading_slash_followed(
    token_rig: Rig,
    fault_proxy_factory: object,  # noqa: F811
) -> None:
    """BI: a relative next link ('list?last=...', resolved against the page URL) is followed once."""
    proxy = _proxy(
        fault_proxy_factory,
        token_rig,
        [
            Rule("GET", r"/tags/list\?n=1000$", rewrite_header("Link", '<list?n=1000&last=oci>; rel="next"')),
            Rule(
                "GET",
                r"/tags/list\?n=1000&last=oci$",
                replace_body(b'{"name":"group/project","tags":["zz"]}'),
            ),
        ],
    )
    code, doc = _tags_json([f"{proxy.netloc}/group/project"])
    assert code == 0
    tags = doc["tags"]
    assert isinstance(tags, list)
    assert "zz" in tags
    assert set(tags) - {"zz"} == set(token_rig.seeded.tags("group/project"))
