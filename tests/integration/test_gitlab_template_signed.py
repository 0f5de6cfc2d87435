"""The GitLab CI template's signed gate (.ocireg-signed-gate, #24) run by gitlab-ci-local against the TLS rig.

The job pip-installs nothing here (the console script of the environment under test is on PATH, with
``cryptography`` from the test extra); the image is signed by the rig signer in cosign's ``.sig`` layout and the
public key is a file in the project, as a File-type CI/CD variable would be. Catalogue: PC.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from integration.gitlabci import run_pipeline, runner_variables
from integration.test_gitlab_template import make_project

from rig import Rig
from rig.signer import Signer, push_sig_tag, signature_layer, simple_payload

SIGNED_PIPELINE = """\
include:
  - local: ocireg.gitlab-ci.yml

signed:
  extends: .ocireg-signed-gate
  stage: build                  # alone: the shell executor shares one directory, and ocireg.env with it
  image: null
  variables:
    OCIREG_REF: "{signed}"
    OCIREG_VERIFY_KEY: cosign.pub

unsigned:
  extends: .ocireg-signed-gate
  image: null
  allow_failure:
    exit_codes: [8]
  variables:
    OCIREG_REF: "{unsigned}"
    OCIREG_VERIFY_KEY: cosign.pub

no-key:
  extends: .ocireg-signed-gate
  image: null
  allow_failure:
    exit_codes: [2]
  variables:
    OCIREG_REF: "{signed}"

deploy:
  stage: deploy
  image: null
  needs: [signed]
  script:
    - echo "deploying reference=$OCIREG_REFERENCE status=$OCIREG_STATUS"
"""


def test_template_signed_gate(tls_rig: Rig, gitlab_ci_local: str, ocireg_bin: Path, tmp_path: Path) -> None:
    """PC: the signed gate passes a signed image and hands its verified digest to a deploy job (dotenv report),
    fails an unsigned one with exit 8 (no digest written), and a job without OCIREG_VERIFY_KEY with exit 2."""
    signer = Signer()
    repo = f"group/project/signed-{secrets.token_hex(3)}"
    with tls_rig.pusher() as pusher:
        signed = pusher.push_image(repo, "signed", label=f"{repo}-s")
        pusher.push_image(repo, "unsigned", label=f"{repo}-u")
        payload = simple_payload(signed.digest, f"{tls_rig.host}/{repo}")
        push_sig_tag(pusher, repo, signed.digest, [signature_layer(signer, payload)])
    pipeline_yaml = SIGNED_PIPELINE.format(
        signed=tls_rig.ref(repo, "signed"), unsigned=tls_rig.ref(repo, "unsigned")
    )
    project = make_project(tmp_path / "project", pipeline_yaml)
    signer.write_public(project / "cosign.pub")
    pipeline = run_pipeline(gitlab_ci_local, ocireg_bin, project, runner_variables(tls_rig))
    assert pipeline.jobs == {
        "signed": ("PASS", 0),
        "unsigned": ("WARN", 8),
        "no-key": ("WARN", 2),
        "deploy": ("PASS", 0),
    }, pipeline
    reference = f"{tls_rig.host}/{repo}@{signed.digest}"
    report = f"OCIREG_STATUS=verified\nOCIREG_DIGEST={signed.digest}\nOCIREG_REFERENCE={reference}"
    assert report in pipeline.log("signed"), pipeline.log("signed")
    deploy = pipeline.log("deploy")
    assert f"deploying reference={reference} status=verified" in deploy, deploy
    unsigned = pipeline.log("unsigned")
    assert "no-signature" in unsigned and "OCIREG_DIGEST" not in unsigned, unsigned
