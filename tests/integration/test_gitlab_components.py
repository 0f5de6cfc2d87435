"""Issue #26: the GitLab CI/CD components (templates/<name>.yml) run for real by gitlab-ci-local.

Each pipeline includes the components the way a project tests its own components in GitLab,
``include: - component: $CI_SERVER_FQDN/group/project/<name>@$CI_COMMIT_SHA`` (docs.gitlab.com/ci/components:
"test the component"): the test project is a git work tree of group/project holding a copy of templates/, and
gitlab-ci-local takes a component of the current project at its HEAD SHA from that work tree, checking the inputs
against each ``spec:inputs`` (type, options, regex) when it builds the pipeline, before any job runs — as GitLab
does at pipeline creation.

The components are run unchanged: ``--force-shell-executor`` runs their jobs in ``bash`` on this machine (the
``image:`` input is not pulled) with the venv's ``ocireg`` on PATH, and the pipelines pass GitLab's CI JSON schema.
Overriding a job's keywords (``allow_failure``) by defining a job of the same name, as GitLab's docs describe for
components, is how the "absent" cases are allowed to fail.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from integration.gitlabci import (
    PROJECT_PATH,
    Pipeline,
    make_git_project,
    push_dated,
    run_pipeline,
    runner_variables,
)

from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD, JOB_TOKEN

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

pytestmark = pytest.mark.slow


def component(name: str) -> str:
    return f"$CI_SERVER_FQDN/{PROJECT_PATH}/{name}@$CI_COMMIT_SHA"


def make_project(directory: Path, pipeline_yaml: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TEMPLATES, directory / "templates")
    (directory / ".gitlab-ci.yml").write_text(pipeline_yaml)
    return directory


def run(gcl: str, bindir: Path, project: Path, variables: dict[str, str], *jobs: str) -> Pipeline:
    """Commit the work tree (its SHA is the components' version) and run the pipeline, schema-checked."""
    make_git_project(project)
    return run_pipeline(
        gcl, bindir, project, variables, *jobs, schema=True, extra=("--force-shell-executor",)
    )


CHECKS_PIPELINE = f"""\
include:
  - component: {component("gate")}
    inputs:
      tag: v1.2.3
  - component: {component("gate")}
    inputs:
      job-name: gate-missing
      tag: v9.9.9
  - component: {component("gate")}
    inputs:
      job-name: gate-references
      references: "$CI_REGISTRY_IMAGE:v1.2.3 :v1.2.3"
      debug: true
  - component: {component("resolve-digest")}
    inputs:
      stage: build
      tag: v1.2.3
  - component: {component("wait")}
    inputs:
      tag: v1.2.3
      timeout: 60s
  - component: {component("wait")}
    inputs:
      job-name: wait-missing
      tag: v9.9.9
      timeout: 2s
      interval: 1s
  - component: {component("pin-check")}
    inputs:
      paths: deploy/pinned
  - component: {component("pin-check")}
    inputs:
      job-name: pin-check-unpinned
      paths: deploy/unpinned
      offline: true

stages: [build, test, deploy]

gate-missing:
  allow_failure:
    exit_codes: [1]

wait-missing:
  allow_failure:
    exit_codes: [1]

pin-check-unpinned:
  allow_failure:
    exit_codes: [1]

deploy:
  stage: deploy
  needs: [ocireg-resolve-digest]
  script:
    - echo "deploying digest=$OCIREG_DIGEST reference=$OCIREG_REFERENCE status=$OCIREG_STATUS"
"""

COMPOSE = """\
# the stack deployed by this project
services:
  app:
    image: "{image}"   # pinned by CI
"""


def test_pc_components_gate_resolve_wait_pin_check_against_the_rig(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#26, PC: gate passes for a present tag and for several references, exits 1 (absent) for a missing one;
    resolve-digest's dotenv report reaches a later job; wait passes, and exits 1 at its deadline for a missing
    tag; pin-check passes for a pinned file (the digest verified in the registry) and exits 1 listing FILE:LINE
    for an unpinned one (offline). The pipeline passes GitLab's schema with the components unchanged."""
    digest = tls_rig.seeded.digest(PROJECT_PATH, "v1.2.3")
    ref = f"{tls_rig.host}/{PROJECT_PATH}:v1.2.3"
    project = make_project(tmp_path / "project", CHECKS_PIPELINE)
    (project / "deploy" / "pinned").mkdir(parents=True)
    (project / "deploy" / "pinned" / "compose.yaml").write_text(COMPOSE.format(image=f"{ref}@{digest}"))
    (project / "deploy" / "unpinned").mkdir(parents=True)
    (project / "deploy" / "unpinned" / "compose.yaml").write_text(COMPOSE.format(image=ref))

    pipeline = run(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))

    assert pipeline.code == 0, pipeline
    assert "json schema validated" in pipeline.out + pipeline.err, pipeline
    assert pipeline.jobs == {
        "ocireg-gate": ("PASS", 0),
        "gate-missing": ("WARN", 1),
        "gate-references": ("PASS", 0),
        "ocireg-resolve-digest": ("PASS", 0),
        "ocireg-wait": ("PASS", 0),
        "wait-missing": ("WARN", 1),
        "ocireg-pin-check": ("PASS", 0),
        "pin-check-unpinned": ("WARN", 1),
        "deploy": ("PASS", 0),
    }, pipeline
    assert f"present  {ref}  {digest}" in pipeline.log("ocireg-gate")
    assert f"absent  {tls_rig.host}/{PROJECT_PATH}:v9.9.9" in pipeline.log("gate-missing")
    both = pipeline.log("gate-references")
    assert both.count(f"present  {ref}  {digest}") == 2, both
    assert "debug: >" in both and JOB_TOKEN not in both  # debug: true logs the requests, redacted
    assert "debug: >" not in pipeline.log("ocireg-gate")
    # resolve-digest's report as gitlab-ci-local kept it (the shell executor shares one directory, where the gates
    # of the next stage remove ocireg.env: a job's report is only what it wrote)
    report = (
        project / ".gitlab-ci-local" / "artifacts" / "ocireg-resolve-digest" / ".gitlab-ci-reports" / "dotenv"
    )
    assert (report / "ocireg.env").read_text().splitlines() == [
        "OCIREG_STATUS=present",
        f"OCIREG_DIGEST={digest}",
        f"OCIREG_REFERENCE={tls_rig.host}/{PROJECT_PATH}@{digest}",
    ]
    assert (
        f"deploying digest={digest} reference={tls_rig.host}/{PROJECT_PATH}@{digest} status=present"
        in pipeline.log("deploy")
    )
    assert "deploy/unpinned/compose.yaml:4" in pipeline.log("pin-check-unpinned")
    assert (project / "deploy" / "unpinned" / "compose.yaml").read_text() == COMPOSE.format(image=ref)


PRUNE_PIPELINE = f"""\
include:
  - component: {component("prune")}
    inputs:
      job-name: prune-plan
      repository: "{{repo}}"
      match: "mr-* review-*"
      older-than: 14d
  - component: {component("prune")}
    inputs:
      job-name: prune-delete
      repository: "{{repo}}"
      match: "mr-* review-*"
      older-than: 14d
      mode: delete
      untag: true

prune-delete:
  needs: [prune-plan]
  variables:
    OCIREG_USERNAME: {ALICE}          # the rig's job token has no delete right (GitLab's: see the rig)
    OCIREG_PASSWORD: {ALICE_PASSWORD}
"""


def test_pc_component_prune_runs_on_schedule_plans_then_deletes(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#26, #17: prune runs only in scheduled pipelines (its default rules); mode plan writes the plan (the
    artifact ocireg-prune.txt and the log) and deletes nothing; mode delete deletes exactly the planned tags. The
    globs of `match` reach ocireg unexpanded although files in the checkout match them."""
    import secrets

    repo = f"{PROJECT_PATH}/prune-component-{secrets.token_hex(4)}"
    for tag, days in (("mr-1", 30), ("review-2", 30), ("mr-3", 2), ("main", 30)):
        push_dated(tls_rig, repo, tag, days)
    project = make_project(tmp_path / "project", PRUNE_PIPELINE.format(repo=f"{tls_rig.host}/{repo}"))
    (project / "mr-decoy").write_text("a file the shell would match for mr-*\n")

    push = run(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))
    assert push.jobs == {}, push  # not a scheduled pipeline: the default rules leave the jobs out

    schedule = {**runner_variables(tls_rig), "CI_PIPELINE_SOURCE": "schedule"}
    plan = run(gitlab_ci_local, ocireg_bin, project, schedule, "prune-plan")
    assert plan.code == 0, plan
    assert plan.jobs == {"prune-plan": ("PASS", 0)}, plan
    text = (project / "ocireg-prune.txt").read_text()
    assert "delete 2, keep 2 (nothing changed" in text, text
    assert "delete 2, keep 2" in plan.log("prune-plan")
    assert tls_rig.get_manifest(repo, "mr-1").status_code == 200

    pipeline = run(gitlab_ci_local, ocireg_bin, project, schedule)
    assert pipeline.code == 0, pipeline
    assert pipeline.jobs == {"prune-plan": ("PASS", 0), "prune-delete": ("PASS", 0)}, pipeline
    assert "pruned " in (project / "ocireg-prune.txt").read_text()
    for tag, status in (("mr-1", 404), ("review-2", 404), ("mr-3", 200), ("main", 200)):
        assert tls_rig.get_manifest(repo, tag).status_code == status, tag


@pytest.mark.parametrize(
    ("name", "inputs", "refusal"),
    [
        ("wait", "timeout: 10 minutes", "`timeout` input: `10 minutes` does not match required regex"),
        ("wait", "interval: 30sec", "`interval` input: `30sec` does not match required regex"),
        ("prune", "older-than: two weeks", "`older-than` input: `two weeks` does not match required regex"),
        (
            "prune",
            "mode: remove",
            "`mode` input: `remove` cannot be used because it is not in the list of allowed options",
        ),
        ("prune", "max-delete: many", "`max-delete` input: provided value is not a number"),
        ("gate", "debug: 'yes'", "`debug` input: provided value is not a boolean"),
        ("gate", "pyz-sha256: deadbeef", "`pyz-sha256` input: `deadbeef` does not match required regex"),
        (
            "resolve-digest",
            "platform: Linux/ARM64",
            "`platform` input: `Linux/ARM64` does not match required regex",
        ),
    ],
)
def test_bi_component_input_refused_at_pipeline_creation(
    gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path, name: str, inputs: str, refusal: str
) -> None:
    """#26, BI: a malformed input (a duration, the prune switch, a number, a boolean, a SHA-256, a platform) is
    refused when the pipeline is created: the run fails naming the input, and no job starts."""
    pipeline_yaml = f"include:\n  - component: {component(name)}\n    inputs:\n      {inputs}\n"
    project = make_project(tmp_path / "project", pipeline_yaml)
    pipeline = run(gitlab_ci_local, ocireg_bin, project, {})
    assert pipeline.code != 0, pipeline
    assert refusal in pipeline.out + pipeline.err, pipeline
    assert pipeline.jobs == {}, pipeline
    assert "starting shell" not in pipeline.out + pipeline.err, pipeline


INJECTION_PIPELINE = f"""\
include:
  - component: {component("gate")}
    inputs:
      job-name: gate-injected
      references: ":v1.2.3 $(touch injected-1) `touch injected-2` ;touch injected-3 *"
      args: "--jobs 2 ;touch injected-4"

gate-injected:
  allow_failure:
    exit_codes: [2]
"""


def test_sec_component_inputs_are_words_for_ocireg_never_shell_code(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#26, SEC (argument injection): inputs reach the script as variables, split into words and handed to ocireg
    unexpanded — a command substitution, backticks, `;` or a glob in `references` or `args` runs nothing and
    matches no file; ocireg refuses the words that are not references (exit 2)."""
    project = make_project(tmp_path / "project", INJECTION_PIPELINE)
    pipeline = run(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))
    assert pipeline.jobs == {"gate-injected": ("WARN", 2)}, pipeline
    assert not list(project.glob("injected-*")), pipeline
    log = pipeline.log("gate-injected")
    assert "ocireg: error:" in log and "Traceback" not in log, log
    assert ".gitlab-ci.yml" not in log.split("$ ocireg exists", 1)[-1], log  # `*` matched no file


PYZ_PIPELINE = f"""\
include:
  - component: {component("gate")}
    inputs:
      job-name: gate-pyz
      tag: v1.2.3
      pyz-url: "{{url}}"
      pyz-sha256: "{{sha256}}"
  - component: {component("gate")}
    inputs:
      job-name: gate-pyz-tampered
      tag: v1.2.3
      pyz-url: "{{url}}"
      pyz-sha256: "{"0" * 64}"

gate-pyz-tampered:
  allow_failure:
    exit_codes: [2]
"""


def test_pc_component_runs_the_pyz_from_its_url_checked_by_sha256(
    tls_rig: Rig, gitlab_ci_local: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#26, #18: with the inputs pyz-url and pyz-sha256 the job fetches ocireg.pyz (from a loopback HTTP server)
    instead of pip-installing, checks its SHA-256 and runs it with python3 alone (no ocireg on PATH): the gate
    passes; a file whose SHA-256 differs from the input is not run (exit 2)."""
    served = tmp_path / "served"
    served.mkdir()
    build = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build-pyz"),
            "-o",
            str(served / "ocireg.pyz"),
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    sha256 = hashlib.sha256((served / "ocireg.pyz").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ocireg.pyz"
        project = make_project(tmp_path / "project", PYZ_PIPELINE.format(url=url, sha256=sha256.upper()))
        empty = tmp_path / "bin"
        empty.mkdir()
        path = os.environ.get("PATH", "").split(os.pathsep)
        # the venv's ocireg must not be found: the pyz has to serve
        monkeypatch.setenv(
            "PATH", os.pathsep.join(p for p in path if p and not (Path(p) / "ocireg").exists())
        )
        pipeline = run(gitlab_ci_local, empty, project, runner_variables(tls_rig))
    finally:
        server.shutdown()
        server.server_close()
    assert pipeline.jobs == {"gate-pyz": ("PASS", 0), "gate-pyz-tampered": ("WARN", 2)}, pipeline
    digest = tls_rig.seeded.digest(PROJECT_PATH, "v1.2.3")
    log = pipeline.log("gate-pyz")
    assert f"present  {tls_rig.host}/{PROJECT_PATH}:v1.2.3  {digest}" in log, log
    assert "ocireg: fetching " in log and "/.venv/" not in log, log
    assert "not OCIREG_PYZ_SHA256" in pipeline.log("gate-pyz-tampered")
