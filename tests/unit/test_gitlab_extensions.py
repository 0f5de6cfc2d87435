"""Issue #12 (registry half), the pure parts: Retry-After as GitLab writes it, the tag-rule 401, publication
order of tags, and the parsing of GitLab's ``/gitlab/v1`` tag list.

Facts from gitlab-org/container-registry v4.32.0 (mirror tigrisdata/container-registry, commit
27b04ab33a032281a5b3716a72f48e44afb9ca20): ``registry/api/v2/errors.go`` (codes and messages),
``docs/spec/gitlab/api.md`` (the tag list's fields and formats).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ocireg.auth.refusal import unchallenged_refusal
from ocireg.credentials import Credential
from ocireg.errors import (
    AuthenticationFailed,
    PermissionDenied,
    ProtocolViolation,
    RateLimited,
    from_response,
    retry_after_seconds,
)
from ocireg.operations.tags import TagQuery, latest_published, select_tags, sort_tags
from ocireg.reference import parse_repository
from ocireg.registries.gitlab import GITLAB
from ocireg.registries.gitlab import tag_details as _tag_details
from ocireg.transport import _retry_after

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1.500000", 1.5),  # GitLab's %f
        ("0.250000", 0.25),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("999999999999.5", 1e9),
        ("1.5.0", None),
        ("-1", None),
        ("1e3", None),
        (".5", None),
        ("1.", None),
        ("\uff11", None),  # a full-width digit is not delta-seconds
        ("", None),
        (None, None),
    ],
)
def test_bi_retry_after_fractional_seconds(value: str | None, seconds: float | None) -> None:
    """#12 row 7: Retry-After delta-seconds, fractional as GitLab writes them; the transport parses the same."""
    assert retry_after_seconds(value) == seconds
    assert _retry_after(value, 60.0) == seconds


def test_bi_retry_after_http_date_still_parsed() -> None:
    """#12 row 7: the HTTP-date form keeps working next to the fractional one."""
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_pc_rate_limited_message_shows_fractional_wait() -> None:
    """#12 row 7: the advertised wait of a 429 is reported as sent (1.5 s, not rounded to 2)."""
    error = from_response(429, {"retry-after": "1.500000"}, b"", what="manifest x")
    assert isinstance(error, RateLimited)
    assert error.retry_after == 1.5
    assert "1.5s" in str(error)


def _unchallenged(body: bytes, *, sent: bool = True) -> AuthenticationFailed | PermissionDenied:
    """The flow's judgement of a 401 without a challenge on GitLab (its profile: the tag rules)."""
    alice = Credential(username="alice", password="pw", source="test")
    return unchallenged_refusal(
        body,
        what="manifest g/p:v1",
        registry="gitlab.example.com",
        credential=alice,
        sent=sent,
        profile=GITLAB,
    )


@pytest.mark.parametrize(
    ("code", "message", "hint_fragment"),
    [
        (
            "PROTECTED_TAG",
            "insufficient permissions to push or delete protected tag",
            "Protected container tags",
        ),
        ("IMMUTABLE_TAG", "tag is immutable", "immutab"),
        (
            "PROTECTED_MANIFEST",
            "insufficient permissions to delete manifest due to tag protection or immutability policies",
            "ocireg delete REPO:TAG",
        ),
    ],
)
def test_pc_tag_rule_401_is_access_denied(code: str, message: str, hint_fragment: str) -> None:
    """#12 row 1: GitLab's tag-rule 401 (no challenge) is PermissionDenied (exit 4) with code, message, detail."""
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": 'tag "v1" is protected'}]})
    error = _unchallenged(body.encode())
    assert isinstance(error, PermissionDenied)
    assert code in str(error) and message in str(error) and 'tag "v1" is protected' in str(error)
    assert error.hint is not None and hint_fragment in error.hint
    assert "Settings > Packages and registries" in error.hint


@pytest.mark.parametrize("body", [b"", b"<html>401</html>", b'{"errors":[{"code":"UNAUTHORIZED"}]}'])
def test_pc_other_unchallenged_401_stays_authentication_failed(body: bytes) -> None:
    """#12 row 1: every other 401 without a challenge to credentials that were sent keeps today's answer (exit
    3); with nothing sent it is access denied (exit 4, #22 item 5)."""
    assert isinstance(_unchallenged(body, sent=False), PermissionDenied)
    error = _unchallenged(body)
    assert isinstance(error, AuthenticationFailed)
    assert "without a WWW-Authenticate challenge" in str(error)


def test_pc_published_sort_and_latest() -> None:
    """#12 row 8: `--sort published` is oldest first with ties by name; `--latest --by published` the newest."""
    day = dt.datetime(2024, 1, 1, tzinfo=UTC)
    published = {"b": day, "a": day, "c": day + dt.timedelta(days=1), "old": day - dt.timedelta(days=9)}
    tags = ["c", "b", "a", "old", "undated"]
    assert sort_tags(tags, "published", published=published) == ["undated", "old", "a", "b", "c"]
    assert latest_published(tags, published) == "c"
    assert latest_published(["undated"], published) is None
    query = TagQuery(match="[abc]", latest=True, by="published")
    assert select_tags(tags, query, published) == ["c"]
    with pytest.raises(ValueError, match="publication"):
        select_tags(tags, TagQuery(sort="published"))


def test_bi_gitlab_tag_list_parsing() -> None:
    """#12 row 8: a /gitlab/v1 page is strict JSON; bad names or digests are refused before use."""
    repo = parse_repository("registry.example.com/group/project")
    digest = "sha256:" + "a" * 64
    page = [
        {
            "name": "v1",
            "digest": digest,
            "config_digest": "sha256:" + "b" * 64,
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "size_bytes": 286734237,
            "created_at": "2022-06-07T12:10:12.412Z",
            "updated_at": "2022-06-07T14:37:49.251Z",
            "published_at": "2022-06-07T14:37:49.251Z",
        },
        {
            "name": "index",
            "digest": digest,
            "media_type": "x",
            "size_bytes": 1,
            "created_at": "2022-06-07T12:11:13.633Z",
        },
    ]
    first, second = _tag_details(json.dumps(page).encode(), repo, "tags")
    assert first.size == 286734237 and str(first.config_digest).endswith("b" * 64)
    assert first.created_at == dt.datetime(2022, 6, 7, 12, 10, 12, 412000, tzinfo=UTC)
    assert first.published == first.updated_at
    assert second.config_digest is None and second.updated_at is None and second.published_at is None
    assert second.published == second.created_at  # registries before 3.85 send no published_at
    for bad in (
        [{"name": "../x", "digest": digest}],
        [{"name": "v1", "digest": "sha256:../../x"}],
        [{"name": "v1", "digest": digest, "created_at": "yesterday"}],
        {"tags": []},
    ):
        with pytest.raises(ProtocolViolation):
            _tag_details(json.dumps(bad).encode(), repo, "tags")
    with pytest.raises(ProtocolViolation):
        _tag_details(b'[{"name":"v1","name":"v2","digest":"' + digest.encode() + b'"}]', repo, "tags")
