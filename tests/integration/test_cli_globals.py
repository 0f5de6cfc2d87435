"""Issue #18: global options before the command, against the real registry (unit half: tests/unit/test_cli_globals.py)."""

from __future__ import annotations

import json

from clirunner import creds, run_cli
from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

ALICE_ENV = creds(ALICE, ALICE_PASSWORD)


def test_pc_global_options_before_the_command_against_the_registry(token_rig: Rig) -> None:
    """#18: `ocireg --debug -o json --timeout 30s exists REF` answers as with the options after the command."""
    ref = token_rig.ref("group/project", "oci")
    result = run_cli(["--debug", "-o", "json", "--timeout", "30s", "exists", ref], ALICE_ENV)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    assert "HEAD" in result.err  # --debug took effect: the request log is on stderr
    assert ALICE_PASSWORD not in result.both


def test_pc_global_output_before_tags(token_rig: Rig) -> None:
    """#18: `ocireg -o json tags REPO` (the form people type after docker/crane) lists the tags."""
    repo = token_rig.ref("group/project", "oci").rsplit(":", 1)[0]
    result = run_cli(["-o", "json", "tags", repo], ALICE_ENV)
    assert result.code == 0, result.err
    assert "oci" in json.loads(result.out)["tags"]
