"""The gate component with its `verify-key` input (#24, #26), run by gitlab-ci-local against the TLS rig.

Included as in tests/integration/test_gitlab_components.py (``include: component:`` of the project's own path at
its HEAD SHA, the shell executor, the venv's ``ocireg`` with ``cryptography`` on PATH). Images are signed by the
rig signer (tests/rig/signer.py) in cosign's ``.sig`` layout. The trusted key is given the three ways a project
holds it: a file in the checkout, the name of a File-type CI/CD variable, and ``$VARIABLE`` (gitlab-ci-local's
project variables file, ``type: file``, stands for the project's CI/CD settings). Each gate runs in a stage of its
own: the shell executor shares one directory, where two gates at once would write one ``ocireg.env``.
Catalogue: PC (the verdicts, the dotenv report), BI (verify-key with the single file).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import secrets
import threading
import zipapp
from pathlib import Path

import pytest

from integration.gitlabci import runner_variables
from integration.test_gitlab_components import component, make_project, run

from rig import Rig
from rig.signer import Signer, push_sig_tag, signature_layer, simple_payload

pytestmark = pytest.mark.slow

SIGNED_PIPELINE = f"""\
include:
  - component: {component("gate")}
    inputs:
      job-name: gate-signed
      stage: signed
      references: "{{signed}}"
      verify-key: cosign.pub
  - component: {component("gate")}
    inputs:
      job-name: gate-signed-by-variable-name
      stage: by-name
      references: "{{signed}}"
      verify-key: COSIGN_PUB
  - component: {component("gate")}
    inputs:
      job-name: gate-signed-by-pem-variable
      stage: by-pem
      references: "{{signed}}"
      verify-key: COSIGN_PEM
  - component: {component("gate")}
    inputs:
      job-name: gate-key-injected
      stage: injected
      references: "{{signed}}"
      verify-key: "`id`"
  - component: {component("gate")}
    inputs:
      job-name: gate-two-signed
      stage: two
      references: "{{signed}} {{signed}}"
      verify-key: $COSIGN_PUB
  - component: {component("gate")}
    inputs:
      job-name: gate-unsigned
      stage: unsigned
      references: "{{unsigned}}"
      verify-key: $COSIGN_PUB

stages: [signed, by-name, by-pem, injected, two, unsigned, deploy]

gate-unsigned:
  allow_failure:
    exit_codes: [8]

gate-key-injected:
  allow_failure:
    exit_codes: [2]

deploy:
  stage: deploy
  needs: [gate-signed]
  script:
    - echo "deploying reference=$OCIREG_REFERENCE digest=$OCIREG_DIGEST status=$OCIREG_STATUS"
"""


def _key_variables(project: Path, content: str) -> None:
    """The key as a File-type CI/CD variable (COSIGN_PUB: the job sees a file's path) and as a Variable-type one
    (COSIGN_PEM: the job sees the PEM text), as gitlab-ci-local reads them from the project's variables file."""
    doc = {
        "COSIGN_PUB": {"type": "file", "values": {"*": content}},
        "COSIGN_PEM": {"type": "variable", "values": {"*": content}},
    }
    (project / ".gitlab-ci-local-variables.yml").write_text(json.dumps(doc))  # JSON is YAML


def test_pc_gate_component_verify_key_hands_on_the_verified_digest(
    tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#24, #26, PC: with `verify-key` the gate passes a signed image (0) and publishes the verified digest as a
    dotenv report that a later job deploys; an unsigned image fails with 8 (no-signature) and publishes no digest.
    The key works as a path, as a File-type variable's name and as `$VARIABLE`; with two references the gate
    verifies both and writes no dotenv (one OCIREG_DIGEST names one image). The key also works as a Variable-type
    variable holding the PEM text; SEC: a verify-key that looks like a command substitution runs nothing: ocireg
    gets it as a file name (exit 2)."""
    signer = Signer()
    repo = f"group/project/signed-gate-{secrets.token_hex(3)}"
    with tls_rig.pusher() as pusher:
        signed = pusher.push_image(repo, "signed", label=f"{repo}-s")
        pusher.push_image(repo, "unsigned", label=f"{repo}-u")
        payload = simple_payload(signed.digest, f"{tls_rig.host}/{repo}")
        push_sig_tag(pusher, repo, signed.digest, [signature_layer(signer, payload)])
    signed_ref, unsigned_ref = tls_rig.ref(repo, "signed"), tls_rig.ref(repo, "unsigned")
    project = make_project(
        tmp_path / "project", SIGNED_PIPELINE.format(signed=signed_ref, unsigned=unsigned_ref)
    )
    signer.write_public(project / "cosign.pub")
    _key_variables(project, (project / "cosign.pub").read_text())

    pipeline = run(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))

    assert pipeline.jobs == {
        "gate-signed": ("PASS", 0),
        "gate-signed-by-variable-name": ("PASS", 0),
        "gate-signed-by-pem-variable": ("PASS", 0),
        "gate-key-injected": ("WARN", 2),
        "gate-two-signed": ("PASS", 0),
        "gate-unsigned": ("WARN", 8),
        "deploy": ("PASS", 0),
    }, pipeline
    verified = [
        "OCIREG_STATUS=verified",
        f"OCIREG_DIGEST={signed.digest}",
        f"OCIREG_REFERENCE={tls_rig.host}/{repo}@{signed.digest}",
    ]
    artifacts = project / ".gitlab-ci-local" / "artifacts"  # gitlab-ci-local keeps each job's reports there
    report = artifacts / "gate-signed" / ".gitlab-ci-reports" / "dotenv" / "ocireg.env"
    assert report.read_text().splitlines() == verified
    assert "\n".join(verified) in pipeline.log("gate-signed")
    assert "\n".join(verified) in pipeline.log("gate-signed-by-variable-name")
    assert "\n".join(verified) in pipeline.log("gate-signed-by-pem-variable")
    injected = pipeline.log("gate-key-injected")  # verify-key is a word for ocireg, never shell code
    assert "--verify-key" in injected and "`id`" in injected and "uid=" not in injected, injected
    assert (
        f"deploying reference={tls_rig.host}/{repo}@{signed.digest} digest={signed.digest} status=verified"
        in pipeline.log("deploy")
    ), pipeline.log("deploy")
    two = pipeline.log("gate-two-signed")
    assert two.count(f"verified  {signed_ref}  {signed.digest}") == 2, two
    assert not list((artifacts / "gate-two-signed").rglob("ocireg.env"))
    unsigned = pipeline.log("gate-unsigned")
    assert "no-signature" in unsigned and "OCIREG_STATUS=not-verified" in unsigned, unsigned
    assert "OCIREG_DIGEST" not in unsigned, unsigned


FAKE_OCIREG = """\
import sys
print("ocireg 0.0.0 (a stand-in: the test serves it as ocireg.pyz)")
if sys.argv[1:] != ["--version"]:
    print("stand-in ocireg ran: " + " ".join(sys.argv[1:]))
"""

PYZ_PIPELINE = f"""\
include:
  - component: {component("gate")}
    inputs:
      job-name: gate-pyz-verify
      references: registry.example.com/group/app:v1
      pyz-url: "{{url}}"
      pyz-sha256: "{{sha256}}"
      verify-key: cosign.pub

gate-pyz-verify:
  allow_failure:
    exit_codes: [2]
"""


def test_bi_gate_component_verify_key_refuses_the_single_file(
    gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path
) -> None:
    """#24, #26, BI: verify-key needs ocireg[verify] (cryptography), which ocireg.pyz cannot carry: with pyz-url the
    job fails with exit 2 saying why, before running ocireg (a stand-in pyz that would pass shows it never ran)."""
    source = tmp_path / "fake"
    source.mkdir()
    (source / "__main__.py").write_text(FAKE_OCIREG)
    served = tmp_path / "served"
    served.mkdir()
    zipapp.create_archive(source, served / "ocireg.pyz")
    sha256 = hashlib.sha256((served / "ocireg.pyz").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ocireg.pyz"
        project = make_project(tmp_path / "project", PYZ_PIPELINE.format(url=url, sha256=sha256))
        (project / "cosign.pub").write_text("not read: the job stops before\n")
        pipeline = run(gitlab_ci_local, ocireg_bin, project, {})
    finally:
        server.shutdown()
        server.server_close()
    assert pipeline.jobs == {"gate-pyz-verify": ("WARN", 2)}, pipeline
    log = pipeline.log("gate-pyz-verify")
    assert "ocireg 0.0.0 (a stand-in" in log, log  # the pyz was fetched, checked and installed
    assert "stand-in ocireg ran" not in log, log
    assert "verify-key" in log and "ocireg[verify]" in log and "pyz-url" in log, log
