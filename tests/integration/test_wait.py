"""Issue #4 acceptance: ``ocireg wait`` against the real rig (PC, FT, SEC).

No timing assertions: the tests count polls and token requests, and check exit codes and output.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import uuid

import pytest

from ocireg.cli import main

from clirunner import creds, run_cli
from rig import Rig
from rig.faultproxy import Rule, status
from rig.proxy_fixtures import FaultProxyFactory
from rig.tokenserver import ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def throwaway_repo() -> str:
    # Inside project group/project (alice may pull and push), away from the seeded repository's tag list.
    return f"group/project/wait-{uuid.uuid4().hex[:10]}"


def test_wait_sees_a_tag_pushed_three_seconds_after_it_started(token_rig: Rig) -> None:
    """PC/FT: the tag appears mid-wait; wait polls until it sees it and exits 0 with its digest."""
    repo = throwaway_repo()
    pushed: list[str] = []
    failure: list[BaseException] = []

    def push_later() -> None:
        try:
            time.sleep(3)
            with token_rig.pusher() as pusher:
                pushed.append(pusher.push_image(repo, "v1", label=repo).digest)
        except BaseException as exc:  # surfaced by the assertion below
            failure.append(exc)

    pusher_thread = threading.Thread(target=push_later, daemon=True)
    pusher_thread.start()
    try:
        result = run_cli(
            ["wait", "--timeout", "60s", "--interval", "1s", "-o", "json", token_rig.ref(repo, "v1")],
            ALICE_ENV,
        )
    finally:
        pusher_thread.join(timeout=30)
    assert not failure, failure
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["command"] == "wait"
    assert doc["timed_out"] is False
    assert doc["polls"] >= 2  # it really waited: absent first, present later
    (item,) = doc["results"]
    assert item["status"] == "present"
    assert item["digest"] == pushed[0]
    assert result.err == ""  # stderr is not a terminal: no progress line


def test_wait_exits_1_at_the_deadline_listing_what_is_still_absent(token_rig: Rig) -> None:
    """PC: at the deadline, exit 1; every reference gets a line, the absent ones are listed on stderr."""
    present = token_rig.ref("group/project", "v1.2.3")
    absent = token_rig.ref("group/project", f"never-{uuid.uuid4().hex[:8]}")
    result = run_cli(["wait", "--timeout", "2s", "--interval", "500ms", present, absent], ALICE_ENV)
    assert result.code == 1
    rows = [line.split() for line in result.out.splitlines()]
    assert rows == [
        ["present", present, token_rig.seeded.digest("group/project", "v1.2.3")],
        ["absent", absent],
    ]
    assert "still absent after" in result.err
    assert absent in result.err
    assert present not in result.err


def test_wait_dotenv_hands_the_digest_on(token_rig: Rig) -> None:
    """PC/Output: ``wait -o dotenv`` prints the keys ``exists -o dotenv`` prints (for a downstream deploy job)."""
    ref = token_rig.ref("group/project", "v1.2.3")
    digest = token_rig.seeded.digest("group/project", "v1.2.3")
    result = run_cli(["wait", "--timeout", "30s", "-o", "dotenv", ref], ALICE_ENV)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "OCIREG_STATUS=present",
        f"OCIREG_DIGEST={digest}",
        f"OCIREG_REFERENCE={token_rig.host}/group/project@{digest}",
    ]
    same = run_cli(["exists", "-o", "dotenv", ref], ALICE_ENV)
    assert same.out == result.out
    # At the deadline the absent reference is in the report too, with its status and no digest.
    absent = token_rig.ref("group/project", f"never-{uuid.uuid4().hex[:8]}")
    late = run_cli(["wait", "--timeout", "1s", "--interval", "500ms", "-o", "dotenv", ref, absent], ALICE_ENV)
    assert late.code == 1
    statuses = [line for line in late.out.splitlines() if line.endswith(("=present", "=absent"))]
    assert len(statuses) == 2
    assert statuses[1].endswith("_STATUS=absent")


def test_wait_exits_3_at_once_on_a_wrong_password(token_rig: Rig) -> None:
    """SEC/FT: a refused login ends the wait on the first poll; the token endpoint sees one request only."""
    assert token_rig.token_server is not None
    result = run_cli(
        ["wait", "--timeout", "10m", "-o", "json", token_rig.ref("group/project", "not-yet")],
        creds(ALICE, "wrong-password"),
    )
    assert result.code == 3
    doc = json.loads(result.out)
    assert doc["polls"] == 1
    assert doc["timed_out"] is False
    assert len(token_rig.token_server.requests) == 1  # a failed Basic login is never retried
    assert "wrong-password" not in result.both


def test_wait_exits_4_at_once_when_denied(token_rig: Rig) -> None:
    """A denied project (GitLab: also a missing one) is not "absent": exit 4 without polling again."""
    result = run_cli(
        ["wait", "--timeout", "10m", "-o", "json", token_rig.ref("group/project", "not-yet")],
        creds(BOB, BOB_PASSWORD),
    )
    assert result.code == 4
    assert json.loads(result.out)["polls"] == 1


def test_wait_rides_out_a_registry_outage(token_rig: Rig, fault_proxy_factory: FaultProxyFactory) -> None:
    """FT: 503s (more than the transport's retries) while the registry restarts; wait keeps polling, exits 0."""
    proxy = fault_proxy_factory(token_rig.url)
    rule = proxy.add_rule(Rule("HEAD", r"/manifests/", status(503, {"Content-Type": "text/plain"}), times=6))
    ref = f"{proxy.netloc}/group/project:v1.2.3"
    result = run_cli(["wait", "--timeout", "60s", "--interval", "200ms", "-o", "json", ref], ALICE_ENV)
    assert result.code == 0, result.err
    assert rule.hits == 6
    doc = json.loads(result.out)
    assert doc["polls"] >= 2
    assert doc["results"][0]["digest"] == token_rig.seeded.digest("group/project", "v1.2.3")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wait_progress_line_on_a_terminal_only(token_rig: Rig) -> None:
    """A status line when stderr is a terminal, drawn by the progress display every command uses (#15: wait no
    longer draws its own), and erased before the final message."""
    ref = token_rig.ref("group/project", f"never-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, **ALICE_ENV, "COLUMNS": "200"}
    out, err = io.StringIO(), _Terminal()
    code = main(["wait", "--timeout", "1500ms", "--interval", "300ms", ref], env, stdout=out, stderr=err)
    assert code == 1
    text = err.getvalue()
    assert "waiting: 0/1 present after 1 poll;" in text
    display, final = text.rsplit(
        "\x1b[2K", 1
    )  # the display erases its line; the message follows on a clean one
    assert "waiting:" in display
    assert final.startswith("ocireg: error: still absent after") and "\x1b" not in final
    quiet_err = _Terminal()
    code = main(["wait", "-q", "--timeout", "500ms", ref], env, stdout=io.StringIO(), stderr=quiet_err)
    assert code == 1
    assert "waiting:" not in quiet_err.getvalue()


def test_wait_status_is_plain_when_stderr_is_not_a_terminal(token_rig: Rig) -> None:
    """#15, #18: piped or redirected stderr (a CI log) gets no status line and no escape sequence, only the
    final message."""
    ref = token_rig.ref("group/project", f"never-{uuid.uuid4().hex[:8]}")
    err = io.StringIO()
    code = main(
        ["wait", "--timeout", "800ms", "--interval", "300ms", ref],
        {**os.environ, **ALICE_ENV},
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 1
    assert "\x1b" not in err.getvalue() and "waiting:" not in err.getvalue()
    assert err.getvalue().startswith("ocireg: error: still absent after")


@pytest.mark.parametrize("plain", [{"NO_COLOR": "1"}, {"TERM": "dumb"}, {"OCIREG_PROGRESS": "0"}])
def test_wait_no_escape_sequences_with_no_color_or_dumb_terminal(
    token_rig: Rig, plain: dict[str, str]
) -> None:
    """#18: NO_COLOR, TERM=dumb and OCIREG_PROGRESS=0 keep even a terminal's stderr free of escape sequences."""
    ref = token_rig.ref("group/project", f"never-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, **ALICE_ENV, **plain}
    err = _Terminal()
    code = main(
        ["wait", "--timeout", "800ms", "--interval", "300ms", ref], env, stdout=io.StringIO(), stderr=err
    )
    assert code == 1
    assert "\x1b" not in err.getvalue() and "waiting:" not in err.getvalue()
