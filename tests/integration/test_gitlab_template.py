"""Issue #8: the GitLab CI template (templates/ocireg.gitlab-ci.yml) run for real by gitlab-ci-local.

gitlab-ci-local (npm, installed by scripts/bootstrap into .tools/) parses the pipeline the way GitLab does
(``include: local``, ``extends``, ``needs``, ``allow_failure:exit_codes``, ``artifacts:reports:dotenv``) and runs
the jobs with its shell executor, i.e. ``bash`` on this machine with the venv's ``ocireg`` on PATH, against the
TLS rig (TLS registry on 127.0.0.1, TLS GitLab-like realm on 127.0.0.2, private CA).

The variables a GitLab runner gives a job are passed with ``--variable``, because gitlab-ci-local sets some of
its own: ``GITLAB_CI=false`` (it is not GitLab), ``CI_REGISTRY=local-registry.<git remote host>`` and
``CI_REGISTRY_IMAGE`` from it, and ``CI_SERVER_HOST``/``CI_SERVER_PORT`` from the git remote (a fallback
``gitlab.com`` without one). ``--variable`` has the highest precedence there, as runner variables do in GitLab.

The template's jobs carry ``image:`` (a real docker-executor runner needs one); a shell-executor runner ignores
it, and so do these pipelines by setting ``image: null`` in the extending jobs — which GitLab's JSON schema does
not allow after merging, so the runs use ``--json-schema-validation=false`` and a separate ``--list`` run
validates the template unchanged against the schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration.gitlabci import make_git_project, push_dated, run_pipeline, runner_variables, skip_or_fail

from rig import Rig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "ocireg.gitlab-ci.yml"
RUN_TIMEOUT = 300.0

pytestmark = pytest.mark.slow


def make_project(directory: Path, pipeline_yaml: str) -> Path:
    """A git work tree (gitlab-ci-local reads only tracked files for ``include: local``, as GitLab reads the
    repository) with the template beside the pipeline."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, directory / "ocireg.gitlab-ci.yml")
    (directory / ".gitlab-ci.yml").write_text(pipeline_yaml)
    make_git_project(directory)
    return directory


GATE_PIPELINE = """\
include:
  - local: ocireg.gitlab-ci.yml

stages: [gate, resolve, deploy]

# A shell-executor runner ignores image:; so do these jobs.
gate-present:
  extends: .ocireg-gate
  image: null
  stage: gate
  variables:
    IMAGE_TAG: v1.2.3

gate-missing:
  extends: .ocireg-gate
  image: null
  stage: gate
  allow_failure:
    exit_codes: [1]
  variables:
    IMAGE_TAG: v9.9.9

gate-unset:
  extends: .ocireg-gate
  image: null
  stage: gate
  allow_failure:
    exit_codes: [2]

gate-denied:
  extends: .ocireg-gate
  image: null
  stage: gate
  allow_failure:
    exit_codes: [4]
  variables:
    OCIREG_REF: "${CI_REGISTRY}/other/project:v1.2.3"

resolve:
  extends: .ocireg-resolve-digest
  image: null
  stage: resolve
  variables:
    IMAGE_TAG: v1.2.3

deploy:
  stage: deploy
  needs: [resolve]
  script:
    - echo "deploying digest=$OCIREG_DIGEST reference=$OCIREG_REFERENCE status=$OCIREG_STATUS"

gate-strict:
  extends: .ocireg-gate
  image: null
  stage: gate
  rules:
    - if: $RUN_STRICT == "1"
  variables:
    IMAGE_TAG: v9.9.9
"""


def test_template_gate_and_dotenv_digest(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """Gate passes for a present tag, exits 1 (absent) for a missing one and 4 for a denied project; the
    resolve job's dotenv report hands OCIREG_DIGEST / OCIREG_REFERENCE to a downstream job."""
    project = make_project(tmp_path / "project", GATE_PIPELINE)
    digest = tls_rig.seeded.digest("group/project", "v1.2.3")
    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))

    assert pipeline.code == 0, pipeline
    assert pipeline.jobs == {
        "gate-present": ("PASS", 0),
        "gate-missing": ("WARN", 1),  # allowed to fail with exit 1 only: any other code would be FAIL
        "gate-denied": ("WARN", 4),  # denied is never reported as absent
        "gate-unset": ("WARN", 2),  # a misconfigured gate is a usage error, never "absent"
        "resolve": ("PASS", 0),
        "deploy": ("PASS", 0),
    }, pipeline
    assert f"present  {tls_rig.host}/group/project:v1.2.3  {digest}" in pipeline.log("gate-present")
    assert f"absent  {tls_rig.host}/group/project:v9.9.9" in pipeline.log("gate-missing")
    assert "ocireg: error:" in pipeline.log("gate-denied")
    assert "set IMAGE_TAG (or OCIREG_REF)" in pipeline.log("gate-unset")
    dotenv = (project / "ocireg.env").read_text().splitlines()
    assert dotenv == [
        "OCIREG_STATUS=present",
        f"OCIREG_DIGEST={digest}",
        f"OCIREG_REFERENCE={tls_rig.host}/group/project@{digest}",
    ]
    assert (
        f"deploying digest={digest} reference={tls_rig.host}/group/project@{digest} status=present"
        in pipeline.log("deploy")
    )


def test_template_gate_fails_the_pipeline_for_a_missing_tag(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """Without allow_failure the gate job fails (exit 1) and so does the pipeline: the deploy never runs."""
    project = make_project(tmp_path / "project", GATE_PIPELINE)
    variables = {**runner_variables(tls_rig), "RUN_STRICT": "1"}
    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, variables, "gate-strict")
    assert pipeline.code != 0, pipeline
    assert pipeline.jobs == {"gate-strict": ("FAIL", 1)}, pipeline
    assert f"absent  {tls_rig.host}/group/project:v9.9.9" in pipeline.log("gate-strict")


def test_template_validates_against_gitlab_schema(
    gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """Every hidden job, extended as the template's header shows, passes GitLab's CI JSON schema unchanged."""
    project = make_project(
        tmp_path / "project",
        """\
include:
  - local: ocireg.gitlab-ci.yml
gate:
  extends: .ocireg-gate
  variables: {IMAGE_TAG: v1.2.3}
wait:
  extends: .ocireg-wait
  variables: {IMAGE_TAG: v1.2.3, OCIREG_WAIT_TIMEOUT: 10m}
resolve:
  extends: .ocireg-resolve-digest
  variables: {IMAGE_TAG: v1.2.3}
pin:
  extends: .ocireg-pin
  variables: {OCIREG_PIN_PATHS: docker-compose.yml}
prune:
  extends: .ocireg-prune
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  variables: {OCIREG_PRUNE_POLICY: "--match mr-* --older-than 14d", OCIREG_PRUNE_DELETE: "1"}
deploy:
  needs: [resolve]
  script: ['./deploy.sh "$OCIREG_REFERENCE"']
""",
    )
    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, {}, schema=True, extra=("--list",))
    assert pipeline.code == 0, pipeline
    assert "json schema validated" in pipeline.out + pipeline.err, pipeline
    listed = {line.split()[0] for line in pipeline.out.splitlines() if line.strip()}
    assert {"gate", "wait", "resolve", "pin", "deploy"} <= listed, pipeline


def _require_command(bindir: Path, command: str) -> None:
    proc = subprocess.run(
        [str(bindir / "ocireg"), command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        skip_or_fail(
            f"`ocireg {command}` does not exist yet (issue #4); the template's job for it is untested"
        )


WAIT_PIN_PIPELINE = """\
include:
  - local: ocireg.gitlab-ci.yml

wait-present:
  extends: .ocireg-wait
  image: null
  variables:
    IMAGE_TAG: v1.2.3
    OCIREG_WAIT_TIMEOUT: 60s

wait-missing:
  extends: .ocireg-wait
  image: null
  allow_failure:
    exit_codes: [1]
  variables:
    IMAGE_TAG: v9.9.9
    OCIREG_WAIT_TIMEOUT: 2s
    OCIREG_WAIT_INTERVAL: 1s

pin:
  extends: .ocireg-pin
  image: null
  variables:
    OCIREG_PIN_PATHS: deploy/docker-compose.yml
"""

COMPOSE = """\
# the stack deployed by this project
services:
  app:
    image: "{host}/group/project:v1.2.3"   # pinned by CI
    ports: ["8080:80"]
"""


def test_template_wait_and_pin(tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path) -> None:
    """.ocireg-wait passes for a present tag and exits 1 at its deadline for a missing one; .ocireg-pin pins
    a compose file in place (comments and quoting kept)."""
    _require_command(ocireg_bin, "wait")
    _require_command(ocireg_bin, "pin")
    project = make_project(tmp_path / "project", WAIT_PIN_PIPELINE)
    compose = project / "deploy" / "docker-compose.yml"
    compose.parent.mkdir()
    compose.write_text(COMPOSE.format(host=tls_rig.host))
    digest = tls_rig.seeded.digest("group/project", "v1.2.3")

    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))

    assert pipeline.code == 0, pipeline
    assert pipeline.jobs == {
        "wait-present": ("PASS", 0),
        "wait-missing": ("WARN", 1),
        "pin": ("PASS", 0),
    }, pipeline
    assert compose.read_text() == COMPOSE.format(host=tls_rig.host).replace(':v1.2.3"', f':v1.2.3@{digest}"')


PRUNE_PIPELINE = """\
include:
  - local: ocireg.gitlab-ci.yml

prune-plan:
  extends: .ocireg-prune
  image: null
  variables:
    OCIREG_PRUNE_REPO: "{repo}"
    OCIREG_PRUNE_POLICY: "--match mr-* --older-than 14d"

prune-delete:
  extends: .ocireg-prune
  image: null
  needs: [prune-plan]
  variables:
    OCIREG_PRUNE_REPO: "{repo}"
    OCIREG_PRUNE_POLICY: "--match mr-* --older-than 14d --untag"
    OCIREG_PRUNE_DELETE: "1"
    OCIREG_USERNAME: alice          # the rig's job token has no delete right (GitLab's: see the rig)
    OCIREG_PASSWORD: alice-password

prune-unset:
  extends: .ocireg-prune
  image: null
  allow_failure:
    exit_codes: [2]
"""


def test_template_prune_plans_then_deletes(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#17 Template: .ocireg-prune writes the plan (artifact ocireg-prune.txt, also in the log) and deletes
    nothing unless OCIREG_PRUNE_DELETE is "1"; then it deletes exactly the planned tags; a job without a
    policy is a usage error (exit 2). The policy's mr-* reaches ocireg unexpanded although files match it."""
    _require_command(ocireg_bin, "prune")
    import secrets

    repo = f"group/project/prune-tpl-{secrets.token_hex(4)}"
    for tag, days in (("mr-1", 30), ("mr-2", 2), ("main", 30)):
        push_dated(tls_rig, repo, tag, days)
    project = make_project(tmp_path / "project", PRUNE_PIPELINE.format(repo=f"{tls_rig.host}/{repo}"))
    (project / "mr-decoy").write_text("a file the shell would match for mr-*\n")

    plan = run_pipeline(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig), "prune-plan")
    assert plan.code == 0, plan
    assert plan.jobs == {"prune-plan": ("PASS", 0)}, plan
    text = (project / "ocireg-prune.txt").read_text()
    assert "delete 1, keep 2 (nothing changed" in text, text
    assert "delete 1, keep 2" in plan.log("prune-plan")
    assert tls_rig.get_manifest(repo, "mr-1").status_code == 200

    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))
    assert pipeline.code == 0, pipeline
    assert pipeline.jobs == {
        "prune-plan": ("PASS", 0),
        "prune-delete": ("PASS", 0),
        "prune-unset": ("WARN", 2),
    }, pipeline
    assert "set OCIREG_PRUNE_POLICY" in pipeline.log("prune-unset")
    assert "pruned " in (project / "ocireg-prune.txt").read_text()
    assert tls_rig.get_manifest(repo, "mr-1").status_code == 404
    assert tls_rig.get_manifest(repo, "mr-2").status_code == 200
    assert tls_rig.get_manifest(repo, "main").status_code == 200


# OCIREG_PYZ_* at pipeline level, so the jobs can override them (gitlab-ci-local's --variable would win).
PYZ_PIPELINE = """\
include:
  - local: ocireg.gitlab-ci.yml

stages: [gate]

variables:
  OCIREG_PYZ_URL: "{url}"
  OCIREG_PYZ_SHA256: "{sha256}"

gate-pyz:
  extends: .ocireg-gate
  image: null
  stage: gate
  variables:
    IMAGE_TAG: v1.2.3
  script:
    - echo "the ocireg command was $(command -v ocireg)"
    - ocireg exists ":$IMAGE_TAG"

gate-pyz-tampered:
  extends: .ocireg-gate
  image: null
  stage: gate
  allow_failure:
    exit_codes: [2]
  variables:
    IMAGE_TAG: v1.2.3
    OCIREG_PYZ_SHA256: "0000000000000000000000000000000000000000000000000000000000000000"

gate-pyz-gone:
  extends: .ocireg-gate
  image: null
  stage: gate
  allow_failure:
    exit_codes: [5]
  variables:
    IMAGE_TAG: v1.2.3
    OCIREG_PYZ_URL: "{gone}"
"""


def test_template_runs_the_pyz_from_a_url_verified_by_sha256(
    tls_rig: Rig, gitlab_ci_local: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#18: with OCIREG_PYZ_URL the jobs fetch ocireg.pyz (here from a loopback HTTP server) instead of pip
    installing, check OCIREG_PYZ_SHA256 and run it with python3 alone: the gate passes; a file whose SHA-256
    differs is not run (exit 2); a URL that cannot be fetched is exit 5. No ocireg is on the jobs' PATH."""
    import functools
    import hashlib
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    build = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build-pyz"),
            "--output",
            str(served / "ocireg.pyz"),
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    sha256 = hashlib.sha256((served / "ocireg.pyz").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        pipeline_yaml = PYZ_PIPELINE.format(
            url=f"{base}/ocireg.pyz", sha256=sha256.upper(), gone=f"{base}/no-such.pyz"
        )
        empty = tmp_path / "bin"
        empty.mkdir()
        project = make_project(tmp_path / "project", pipeline_yaml)
        monkeypatch.setenv(  # the venv's ocireg must not be found: the pyz has to serve
            "PATH",
            os.pathsep.join(
                p
                for p in os.environ.get("PATH", "").split(os.pathsep)
                if p and not (Path(p) / "ocireg").exists()
            ),
        )
        pipeline = run_pipeline(gitlab_ci_local, empty, project, runner_variables(tls_rig))
    finally:
        server.shutdown()
        server.server_close()
    assert pipeline.jobs == {
        "gate-pyz": ("PASS", 0),
        "gate-pyz-tampered": ("WARN", 2),
        "gate-pyz-gone": ("WARN", 5),
    }, pipeline
    log = pipeline.log("gate-pyz")
    assert (
        f"present  {tls_rig.host}/group/project:v1.2.3  {tls_rig.seeded.digest('group/project', 'v1.2.3')}"
        in log
    )
    assert "the ocireg command was /" in log and "/.venv/" not in log.split("the ocireg command was", 1)[1]
    assert "not OCIREG_PYZ_SHA256" in pipeline.log("gate-pyz-tampered")
