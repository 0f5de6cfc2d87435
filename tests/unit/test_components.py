"""Issue #26: the GitLab CI/CD components' files, read as GitLab reads them (no runner; the runs are in
tests/integration/test_gitlab_components.py).

GitLab's rules relied on (docs.gitlab.com/ci/inputs, docs.gitlab.com/ci/components): a component is
``templates/<name>.yml`` (or ``templates/<name>/template.yml``) whose first YAML document is the header
``spec: inputs:`` and whose second is the configuration, where ``$[[ inputs.<name> ]]`` is replaced when the
pipeline is created; an input has ``type`` (string — the default —, number, boolean, array), ``default`` (without
one the input is mandatory), ``description``, ``options`` and ``regex`` (string inputs only; a default must pass it).
The merge requests that brought them, read for these rules: gitlab-org/gitlab!127448 (the templates/ layout, the
component named without ``templates/``), !127762 (``type`` boolean and number), !132574 (``regex``: strings only,
the default validated too).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from ocireg.duration import parse_duration
from ocireg.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
CLASSIC = TEMPLATES / "ocireg.gitlab-ci.yml"
COMPONENTS = ("gate", "resolve-digest", "wait", "pin-check", "prune")
INPUT_KEYS = {"default", "description", "type", "options", "regex"}
TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "boolean": bool,
    "array": list,
}
COMMON_IN_README = {"job-name", "stage", "job-image", "pip-spec", "pyz-url", "pyz-sha256", "args", "debug"}
INTERPOLATION = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")


def _documents(path: Path) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(io.StringIO(path.read_text(encoding="utf-8"))))


def _inputs(name: str) -> dict[str, dict[str, Any]]:
    header = _documents(TEMPLATES / f"{name}.yml")[0]
    inputs: dict[str, dict[str, Any]] = header["spec"]["inputs"]
    return inputs


def test_the_components_are_the_yml_files_of_templates() -> None:
    """Every templates/*.yml but the classic include template is a component (the catalog lists them all)."""
    found = {p.stem for p in TEMPLATES.glob("*.yml")} - {CLASSIC.stem}
    assert found == set(COMPONENTS)
    assert not list(TEMPLATES.glob("*/template.yml"))


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_header_and_job(name: str) -> None:
    """Two documents: the header (spec: inputs, nothing else) and one job named by the job-name input."""
    documents = _documents(TEMPLATES / f"{name}.yml")
    assert len(documents) == 2
    header, config = documents
    assert list(header) == ["spec"] and list(header["spec"]) == ["inputs"]
    assert list(config) == ["$[[ inputs.job-name ]]"]
    job = config["$[[ inputs.job-name ]]"]
    assert job["image"] == "$[[ inputs.job-image ]]" and job["stage"] == "$[[ inputs.stage ]]"


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_inputs_are_typed_described_and_work_unset(name: str) -> None:
    """Each input has a description and a default of its type (so the component works with no inputs), a
    default among its options, and a regex only on a string input, which the default passes."""
    for key, spec in _inputs(name).items():
        assert set(spec) <= INPUT_KEYS, key
        assert isinstance(spec.get("description"), str) and len(spec["description"]) > 10, key
        kind = spec.get("type", "string")
        assert kind in TYPES, key
        assert "default" in spec, f"{name}: input {key} has no default, so it would be mandatory"
        default = spec["default"]
        assert isinstance(default, TYPES[kind]) and not (kind == "number" and isinstance(default, bool)), key
        if "options" in spec:
            assert default in spec["options"], key
        if "regex" in spec:
            assert kind == "string", key
            assert re.search(spec["regex"], default), key


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_interpolates_exactly_its_inputs(name: str) -> None:
    """Every $[[ inputs.X ]] names a declared input (GitLab refuses unknown ones) and every input is used."""
    body = (TEMPLATES / f"{name}.yml").read_text(encoding="utf-8").split("\n---\n", 1)[1]
    used = set(INTERPOLATION.findall(body))
    assert used == set(_inputs(name)), name


@pytest.mark.parametrize("name", COMPONENTS)
def test_component_installs_ocireg_as_the_classic_template_does(name: str) -> None:
    """The before_script (pip, or ocireg.pyz by URL checked against its SHA-256) is the classic template's,
    byte for byte: one way of installing, tested once through the classic template's pyz test."""
    classic = _documents(CLASSIC)[0][".ocireg"]["before_script"]
    job = _documents(TEMPLATES / f"{name}.yml")[1]["$[[ inputs.job-name ]]"]
    assert job["before_script"] == classic
    assert job["image"] == "$[[ inputs.job-image ]]"
    assert {"OCIREG_PIP_SPEC", "OCIREG_PYZ_URL", "OCIREG_PYZ_SHA256"} <= set(job["variables"])


def test_component_rules_default_to_schedules_for_prune_only() -> None:
    """prune is for scheduled pipelines: its `rules` input defaults to them; mode defaults to the plan."""
    inputs = _inputs("prune")
    assert inputs["rules"]["type"] == "array"
    assert inputs["rules"]["default"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert inputs["mode"]["default"] == "plan" and inputs["mode"]["options"] == ["plan", "delete"]
    for name in COMPONENTS[:-1]:
        assert "rules" not in _inputs(name)


DURATIONS = [("wait", "timeout"), ("wait", "interval"), ("prune", "older-than")]
SAMPLES = [
    "90s",
    "10m",
    "1h30m",
    "500ms",
    "2d",
    "14d",
    "36h",
    "0s",
    "10 minutes",
    "30sec",
    "1.5h",
    "-5m",
    "m",
    "",
]


@pytest.mark.parametrize(("name", "key"), DURATIONS)
def test_component_duration_regex_accepts_only_what_ocireg_parses(name: str, key: str) -> None:
    """A duration input's regex refuses at pipeline creation what ocireg would refuse in the job (exit 2):
    every sample it lets through parses (an empty older-than leaves the option out)."""
    spec = _inputs(name)[key]
    passed = [s for s in SAMPLES if re.search(spec["regex"], s)]
    assert {"90s", "10m", "1h30m", "14d"} <= set(passed)
    for sample in passed:
        if sample:
            try:
                parse_duration(sample, maximum=float("inf"))
            except UsageError as error:  # pragma: no cover - the assertion's message
                raise AssertionError(f"{name}.{key} lets {sample!r} through: {error}") from error
    assert not {"10 minutes", "30sec", "-5m", "m"} & set(passed)


def test_catalog_readme_documents_every_component_and_input() -> None:
    """templates/README.md (the catalog page) names each component, its include line and each of its inputs."""
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    for name in COMPONENTS:
        assert f"/ocireg/{name}@" in readme, name
        section = readme.split(f"\n## `{name}`", 1)[1].split("\n## ", 1)[0]
        for key in _inputs(name):
            assert f"`{key}`" in section or key in COMMON_IN_README, f"{name}: input {key} not in README"


def test_catalog_readme_documents_the_common_inputs() -> None:
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    common = readme.split("\n## Inputs of every component", 1)[1].split("\n## ", 1)[0]
    for key in COMMON_IN_README:
        assert f"`{key}`" in common, key
        for name in COMPONENTS:
            assert key in _inputs(name), (name, key)


def test_gate_verify_key_input_is_a_word_for_ocireg_and_says_what_it_needs() -> None:
    """#24/#26: the gate's `verify-key` input (no TODO left): optional (empty: exists only), one word (a path or a
    CI/CD variable's name, never PEM text or shell code), reaching the script only as a variable; its description
    says it needs ocireg[verify] through pip, not ocireg.pyz."""
    text = (TEMPLATES / "gate.yml").read_text(encoding="utf-8")
    assert "TODO" not in text
    spec = _inputs("gate")["verify-key"]
    assert spec.get("type", "string") == "string" and spec["default"] == ""
    for word in ("cosign.pub", "$COSIGN_PUB", "COSIGN_PUB", "keys/release.pem"):
        assert re.search(spec["regex"], word), word
    for bad in ("-----BEGIN PUBLIC KEY-----\nMFkw", "a.pub; touch x", "$(cat key)"):
        assert not re.search(spec["regex"], bad), bad
    assert "ocireg[verify]" in spec["description"] and "pyz-url" in spec["description"]
    job = _documents(TEMPLATES / "gate.yml")[1]["$[[ inputs.job-name ]]"]
    assert job["variables"]["OCIREG_COMPONENT_VERIFY_KEY"] == "$[[ inputs.verify-key ]]"
    assert "inputs.verify-key" not in "\n".join(job["script"])


@pytest.mark.parametrize(
    ("path", "job"), [("gate.yml", "$[[ inputs.job-name ]]"), (CLASSIC.name, ".ocireg-signed-gate")]
)
def test_gates_publish_the_digest_they_checked_as_a_dotenv_report(path: str, job: str) -> None:
    """#24: the gate component (with verify-key) and the classic signed gate hand the digest they verified to later
    jobs as a dotenv report, so a deploy runs that digest instead of resolving the tag again."""
    config = _documents(TEMPLATES / path)[1 if path == "gate.yml" else 0][job]
    assert config["artifacts"]["reports"]["dotenv"] == "ocireg.env"
    assert any("-o dotenv" in line and "> ocireg.env" in line for line in config["script"]), config["script"]
