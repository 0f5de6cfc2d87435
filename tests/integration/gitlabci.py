"""Running pipelines with gitlab-ci-local, shared by the classic template's tests and the components' tests.

Not a test module: imported as ``integration.gitlabci``. gitlab-ci-local (npm, the version scripts/bootstrap pins,
installed into .tools/) parses a pipeline the way GitLab does and runs its jobs with the shell executor, i.e.
``bash`` on this machine with the venv's ``ocireg`` on PATH, against the TLS rig (TLS registry on 127.0.0.1, TLS
GitLab-like realm on 127.0.0.2, private CA).

The variables a GitLab runner gives a job are passed with ``--variable``, because gitlab-ci-local sets some of its
own: ``GITLAB_CI=false`` (it is not GitLab), ``CI_REGISTRY=local-registry.<git remote host>`` and
``CI_REGISTRY_IMAGE`` from it, and ``CI_SERVER_HOST``/``CI_SERVER_PORT`` from the git remote. ``--variable`` has
the highest precedence there, as runner variables do in GitLab.

A project is a git work tree: gitlab-ci-local reads ``include: local`` only from tracked files (GitLab reads the
repository), and takes ``include: component:`` of the project's own path at its HEAD commit from the work tree
(GitLab's way of testing a component in its own project, docs.gitlab.com/ci/components: "test the component").
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rig import Rig
from rig.registry import REQUIRE_RIG_ENV
from rig.tokenserver import JOB_TOKEN, JOB_USER

ROOT = Path(__file__).resolve().parents[2]
GCL_LOCAL = ROOT / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
RUN_TIMEOUT = 300.0
#: The project the rig's runner variables describe, and the git remote of every test project.
PROJECT_PATH = "group/project"
REMOTE = f"https://gitlab.example.com/{PROJECT_PATH}.git"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_RIG_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_RIG_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def gitlab_ci_local() -> str:
    """Path of gitlab-ci-local (project-local first); skip locally / fail in CI when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        skip_or_fail("node/npm not installed: gitlab-ci-local cannot run (apt-get install nodejs npm)")
    if shutil.which("rsync") is None:
        skip_or_fail("rsync not installed: gitlab-ci-local needs it (apt-get install rsync)")
    found = str(GCL_LOCAL) if GCL_LOCAL.exists() else shutil.which("gitlab-ci-local")
    if found is None:
        skip_or_fail("gitlab-ci-local not installed (scripts/bootstrap puts it in .tools/)")
        raise AssertionError("unreachable")
    return found


@pytest.fixture(scope="module")
def ocireg_bin() -> Path:
    """The directory holding the ``ocireg`` console script of the environment under test."""
    bindir = Path(sys.executable).parent
    if not (bindir / "ocireg").exists():
        skip_or_fail(f"no ocireg console script beside {sys.executable} (pip install -e .)")
    return bindir


def runner_variables(rig: Rig) -> dict[str, str]:
    """What a GitLab runner gives a job of project group/project whose registry is the rig."""
    assert rig.ca_file is not None and rig.token_server is not None
    return {
        "GITLAB_CI": "true",
        "CI_REGISTRY": rig.host,
        "CI_REGISTRY_IMAGE": f"{rig.host}/{PROJECT_PATH}",
        "CI_REGISTRY_USER": JOB_USER,
        "CI_REGISTRY_PASSWORD": JOB_TOKEN,
        "CI_JOB_TOKEN": JOB_TOKEN,
        "CI_SERVER_HOST": "127.0.0.2",
        "CI_SERVER_PORT": str(rig.token_server.port),
        "CI_SERVER_TLS_CA_FILE": rig.ca_file,
    }


class Pipeline:
    """One gitlab-ci-local run: exit code, output, and each job's outcome from its 'finished' line."""

    _FINISHED = re.compile(r"^(?P<job>\S+)\s+finished in .*?(?:\s(?P<status>FAIL|WARN)\s+(?P<code>\d+))?\s*$")

    def __init__(self, project: Path, proc: subprocess.CompletedProcess[str]) -> None:
        self.project = project
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.jobs: dict[str, tuple[str, int]] = {}
        for line in (proc.stdout + "\n" + proc.stderr).splitlines():
            match = self._FINISHED.match(line.strip())
            if match and match.group("job") != "pipeline":  # "pipeline finished in ..." closes the run
                status = match.group("status") or "PASS"
                self.jobs[match.group("job")] = (status, int(match.group("code") or 0))

    def log(self, job: str) -> str:
        return (self.project / ".gitlab-ci-local" / "output" / f"{job}.log").read_text()

    def __repr__(self) -> str:  # shown by failing assertions
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def _git(directory: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=ocireg tests", "-c", "user.email=tests@ocireg.invalid", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


def make_git_project(directory: Path) -> str:
    """Make ``directory`` a git work tree of group/project with everything in it committed; its HEAD SHA."""
    if not (directory / ".git").exists():
        _git(directory, "init", "-q", "-b", "main")
        _git(directory, "remote", "add", "origin", REMOTE)
    (directory / ".gitignore").write_text(".gitlab-ci-local/\n")
    _git(directory, "add", "-A")
    _git(directory, "commit", "-q", "--allow-empty", "-m", "pipeline under test")
    return _git(directory, "rev-parse", "HEAD")


def run_pipeline(
    gcl: str,
    bindir: Path,
    project: Path,
    variables: dict[str, str],
    *jobs: str,
    schema: bool = False,
    extra: tuple[str, ...] = (),
) -> Pipeline:
    argv = [gcl, "--no-color", f"--json-schema-validation={'true' if schema else 'false'}"]
    for name, value in variables.items():
        argv += ["--variable", f"{name}={value}"]
    argv += [*extra, *jobs]
    env = dict(os.environ)  # already isolated: temp HOME/XDG dirs, no CI_*/DOCKER_*/OCIREG_* of the developer
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("NODE_OPTIONS", None)
    proc = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    return Pipeline(project, proc)


def push_dated(rig: Rig, repo: str, tag: str, days: int) -> None:
    """A tiny OCI image whose config is ``days`` old (raw HTTP, as the rig seeds)."""
    from rig.seed import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, layer_gzip

    created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    layer, diff_id = layer_gzip(f"{repo}-{tag}")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    with rig.pusher() as pusher:
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": pusher.put_blob(repo, config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": pusher.put_blob(repo, layer), "size": len(layer)}],
        }
        pusher.put_manifest(repo, tag, json.dumps(manifest).encode(), OCI_MANIFEST)
