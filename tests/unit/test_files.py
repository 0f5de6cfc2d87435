"""Unit tests of the image-reference finder and the pin edits (no registry; BI for hostile/odd input).

The sample files under tests/data/imagefiles are shared with the integration tests; ``@REGISTRY@`` is replaced
by a registry host before use.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ocireg.client import ManifestInfo
from ocireg.errors import NotFound, PermissionDenied, UsageError
from ocireg.operations.files import (
    Finding,
    Target,
    discover,
    expand_variables,
    file_kind,
    find_in_text,
    scan_paths,
)
from ocireg.operations.pin import apply_edits, new_value, plan_pins, unified_diff, write_atomic
from ocireg.reference import Digest, Reference

DATA = Path(__file__).resolve().parent.parent / "data" / "imagefiles"
REG = "registry.example.com"
SAMPLES = ("docker-compose.yml", "k8s.yaml", ".gitlab-ci.yml", "Dockerfile", "values.yaml")


def sample(name: str, registry: str = REG) -> str:
    return (DATA / name).read_text(encoding="utf-8").replace("@REGISTRY@", registry)


def write_samples(directory: Path, registry: str = REG) -> None:
    for name in SAMPLES:
        (directory / name).write_text(sample(name, registry), encoding="utf-8", newline="")


def summary(findings: list[Finding]) -> list[tuple[int, str, str | None, bool]]:
    return [(f.line, f.field, f.text or f.skipped, f.not_pinnable is None) for f in findings]


# ----------------------------------------------------------------------------------------------------------------
# Variables
# ----------------------------------------------------------------------------------------------------------------

ENV = {"A": "alpha", "EMPTY": "", "TAG": "v1"}


@pytest.mark.parametrize(
    ("text", "expanded", "missing"),
    [
        ("plain:1", "plain:1", ()),
        ("$A/x", "alpha/x", ()),
        ("${A}/x:${TAG}", "alpha/x:v1", ()),
        ("${MISSING:-def}", "def", ()),
        ("${EMPTY:-def}", "def", ()),
        ("${EMPTY-def}", "", ()),
        ("${A:+set}", "set", ()),
        ("${MISSING:+set}", "", ()),
        ("${MISSING:-${A}}", "alpha", ()),
        ("$$A", "$A", ()),
        ("$MISSING/x", "$MISSING/x", ("MISSING",)),
        ("${X}${Y}${X}", "${X}${Y}${X}", ("X", "Y")),
        ("$", "$", ()),
        ("${}", "${}", ()),
    ],
)
def test_expand_variables(text: str, expanded: str, missing: tuple[str, ...]) -> None:
    result = expand_variables(text, ENV.get)
    assert result.text == expanded
    assert result.missing == missing


def test_expand_required_variable_message() -> None:
    result = expand_variables("${NEED:?set NEED first}", ENV.get)
    assert not result.ok
    assert result.message == "NEED: set NEED first"


def test_expand_does_not_recurse_forever() -> None:
    """BI: a self-referencing default stops after a few levels."""
    result = expand_variables("${X:-${X:-${X:-${X:-${X:-${X:-y}}}}}}", {}.get)
    assert isinstance(result.text, str)


# ----------------------------------------------------------------------------------------------------------------
# File kinds and discovery
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Dockerfile", "dockerfile"),
        ("Dockerfile.prod", "dockerfile"),
        ("app.Dockerfile", "dockerfile"),
        ("Containerfile", "dockerfile"),
        (".gitlab-ci.yml", "gitlab-ci"),
        ("deploy.gitlab-ci.yaml", "gitlab-ci"),
        ("compose.yaml", "yaml"),
        ("values.yml", "yaml"),
        ("README.md", None),
        ("image.txt", None),
    ],
)
def test_file_kind(name: str, kind: str | None) -> None:
    assert file_kind(name) == kind


def test_discover_walks_directories_and_skips_vcs(tmp_path: Path) -> None:
    write_samples(tmp_path)
    (tmp_path / "README.md").write_text("image: x\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.yml").write_text("image: {repository: x, tag: y}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Dockerfile").write_text("FROM alpine:3\n")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    files, problems = discover([str(tmp_path), str(tmp_path / "nope.yml")])
    names = sorted(os.path.relpath(f, tmp_path) for f in files)
    assert names == sorted([*SAMPLES, os.path.join("sub", "Dockerfile")])
    assert [p.message for p in problems] == ["no such file or directory"]


# ----------------------------------------------------------------------------------------------------------------
# The five kinds, from the shared samples
# ----------------------------------------------------------------------------------------------------------------


def find(name: str, env: dict[str, str] | None = None) -> list[Finding]:
    return find_in_text(name, sample(name), env or {})


def test_compose_services_image() -> None:
    findings = find("docker-compose.yml", {"REGISTRY_HOST": REG})
    assert {f.kind for f in findings} == {"compose"}
    assert summary(findings) == [
        (6, "services.web.image", f"{REG}/group/project:oci", True),  # through the merge key, at the anchor
        (12, "services.api.image", f"{REG}/group/project:v1.2.3", True),
        (14, "services.worker.image", f"{REG}/group/project:index", True),
        (16, "services.db.image", f"{REG}/group/project:docker", True),
        (20, "services.cache.image", f"{REG}/group/project:stable", False),  # variables: checked, not pinned
    ]


def test_compose_unresolved_variable_is_skipped_with_reason() -> None:
    findings = find("docker-compose.yml")
    cache = findings[-1]
    assert cache.text is None
    assert cache.skipped is not None
    assert "$REGISTRY_HOST" in cache.skipped


def test_compose_reads_dotenv_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: ${REG}/app:${TAG:-1}\n")
    (tmp_path / ".env").write_text("# comment\nREG=registry.example.com\nexport TAG='2'\n")
    scan = scan_paths([str(tmp_path / "compose.yaml")], {"TAG": "3"})
    assert [f.text for f in scan.findings] == ["registry.example.com/app:3"]  # environment beats .env


def test_kubernetes_pod_templates() -> None:
    findings = find("k8s.yaml")
    assert {f.kind for f in findings} == {"kubernetes"}
    assert [(f.line, f.field) for f in findings] == [
        (14, "Deployment/web spec.template.spec.initContainers[migrate].image"),
        (17, "Deployment/web spec.template.spec.containers[web].image"),
        (19, "Deployment/web spec.template.spec.containers[side].image"),
        (32, "CronJob/nightly spec.jobTemplate.spec.template.spec.containers[job].image"),
        (42, "Pod/debug spec.containers[main].image"),
        (45, "Pod/debug spec.ephemeralContainers[dbg].image"),
    ]
    assert all(f.target is not None and f.not_pinnable is None for f in findings)


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ArgoRollout"])
def test_kubernetes_workloads_in_a_list(kind: str) -> None:
    text = f"""apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: {kind}
    metadata: {{name: w}}
    spec:
      template:
        spec:
          containers: [{{name: c, image: "r.example/app:1"}}]
"""
    (found,) = find_in_text("list.yaml", text, {})
    assert found.field == f"{kind}/w items[0].spec.template.spec.containers[c].image"
    assert found.text == "r.example/app:1"


def test_gitlab_ci_image_and_services() -> None:
    findings = find(".gitlab-ci.yml")
    assert {f.kind for f in findings} == {"gitlab-ci"}
    assert summary(findings) == [
        (6, "default.image", f"{REG}/group/project:oci", True),
        (8, "default.services[0]", f"{REG}/group/project:docker", True),
        (9, "default.services[1].name", f"{REG}/group/project:index", True),
        (14, "image", f"{REG}/group/project:stable", True),
        (19, "build.image.name", f"{REG}/group/project:list", True),
        (25, "deploy.image", f"{REG}/group/project:v1.2.3", False),  # $BASE_TAG from variables:
        (26, "deploy.services[0]", f"{REG}/group/sub/project/image:latest", True),
        (31, ".template.image", "unresolved variable $CI_REGISTRY_IMAGE (set it in the environment)", False),
    ]


def test_gitlab_ci_environment_beats_file_variables() -> None:
    findings = find(".gitlab-ci.yml", {"BASE_TAG": "v9", "CI_REGISTRY_IMAGE": f"{REG}/group/project"})
    assert findings[5].text == f"{REG}/group/project:v9"
    assert findings[7].text == f"{REG}/group/project:from-ci"


def test_gitlab_ci_detected_by_content_in_included_files() -> None:
    text = "include: [{local: x.yml}]\njob:\n  image: r.example/a:1\n  script: [true]\n"
    (found,) = find_in_text("ci/templates.yml", text, {})
    assert (found.kind, found.field) == ("gitlab-ci", "job.image")


def test_dockerfile_from_with_args_stages_and_scratch() -> None:
    findings = find("Dockerfile")
    assert {f.kind for f in findings} == {"dockerfile"}
    assert summary(findings) == [
        (5, "FROM", f"{REG}/group/project:v1.2.3", False),  # ARG defaults; not pinned (variables)
        (8, "FROM", f"{REG}/group/project:index", True),  # --platform flag skipped
        (14, "COPY --from", f"{REG}/group/project:docker", True),  # 'builder', 'scratch', 'base' skipped
        (16, "FROM", f"{REG}/group/project:oci", True),  # after a line continuation
    ]


def test_dockerfile_arg_defaults_win_over_the_environment() -> None:
    """A CI job's unrelated $TAG must not silently change the base image; an ARG without default uses it."""
    text = "ARG TAG=3.20\nARG BASE\nFROM ${BASE}/alpine:${TAG}\n"
    (found,) = find_in_text("Dockerfile", text, {"TAG": "9.9", "BASE": "r.example"})
    assert found.text == "r.example/alpine:3.20"
    (missing,) = find_in_text("Dockerfile", text, {})
    assert missing.text is None
    assert missing.skipped is not None
    assert "$BASE" in missing.skipped


def test_dockerfile_escape_directive_and_split_reference() -> None:
    text = "# escape=`\nFROM r.example/app:1 `\n  AS one\nFROM r.example/\\\nsplit:1\nFROM ONE\n"
    findings = find_in_text("Dockerfile", text, {})
    assert [(f.line, f.raw, f.not_pinnable is None) for f in findings] == [
        (2, "r.example/app:1", True),
        (4, "r.example/\\", True),
    ]
    text = "FROM r.example/\\\nsplit:1 AS x\n"
    (split,) = find_in_text("Dockerfile", text, {})
    assert split.text == "r.example/split:1"
    assert split.target is None
    assert split.not_pinnable == "the reference is split across lines"


def test_helm_values() -> None:
    findings = find("values.yaml")
    assert {f.kind for f in findings} == {"helm"}
    assert [(f.line, f.field, f.text, f.target and f.target.mode) for f in findings] == [
        (5, "image.repository", f"{REG}/group/project:v1.2.3", "tag"),
        (12, "sidecar.image.repository", f"{REG}/group/project:oci", "digest"),
        (17, "worker.image.repository", f"{REG}/group/project:index", "tag"),
        (21, "chartDefault.image.repository", None, None),
    ]
    assert findings[-1].skipped is not None
    assert "appVersion" in findings[-1].skipped


def test_kustomization_images() -> None:
    """kustomize: newName (else name) with newTag / digest; pin targets only an existing digest: field."""
    findings = find("kustomization.yaml")
    assert {f.kind for f in findings} == {"kustomize"}
    assert [(f.line, f.field, f.text, f.target and f.target.mode) for f in findings] == [
        (8, "images[0].newName", f"{REG}/group/project:v1.2.3", "digest"),
        (11, "images[1].name", f"{REG}/group/project:oci", None),
        (13, "images[2].newName", f"{REG}/group/project:index", "digest"),
        (15, "images[3].newName", None, None),
    ]
    assert findings[1].not_pinnable is not None
    assert "digest:" in findings[1].not_pinnable
    assert findings[3].skipped is not None
    assert "newTag" in findings[3].skipped


def test_kustomization_is_recognised_by_name_or_kind() -> None:
    """Without apiVersion/kind the file name decides; elsewhere kind: Kustomization does (also 'Kustomization')."""
    bare = "images:\n- name: r.example/app\n  newTag: '1'\n"
    assert [f.kind for f in find_in_text("overlays/kustomization.yml", bare, {})] == ["kustomize"]
    assert [f.kind for f in find_in_text("Kustomization", bare, {})] == ["kustomize"]
    assert find_in_text("other.yaml", bare, {}) == []  # not a kustomization: images: alone means nothing
    by_kind = "kind: Kustomization\nimages:\n- {name: r.example/app, digest: ''}\n"
    assert [f.text for f in find_in_text("prod.yaml", by_kind, {})] == [None]  # no tag, empty digest: skipped
    assert file_kind("Kustomization") == "yaml"
    # Another API group's "Component" with a pod template stays a Kubernetes resource.
    crd = (
        "apiVersion: example.com/v1\nkind: Component\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - image: r.example/app:1\n"
    )
    assert [f.kind for f in find_in_text("component.yaml", crd, {})] == ["kubernetes"]


def test_helm_template_expressions_are_skipped() -> None:
    text = 'image:\n  repository: "{{ .Values.global.registry }}/app"\n  tag: "1"\n'
    (found,) = find_in_text("values.yaml", text, {})
    assert found.text is None
    assert found.skipped is not None
    assert "template" in found.skipped


# ----------------------------------------------------------------------------------------------------------------
# YAML edge cases (BI)
# ----------------------------------------------------------------------------------------------------------------


def test_yaml_positions_with_bom_and_crlf() -> None:
    text = "\ufeff# c\r\nservices:\r\n  a:\r\n    image: 'r.example/a:1'\r\n"
    (found,) = find_in_text("compose.yml", text, {})
    assert (found.line, found.column) == (4, 13)
    assert found.target is not None
    assert text[found.target.start : found.target.end] == "r.example/a:1"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"r.example/a\\x3a1"', "escapes"),
        ("|\n      r.example/a:1", "block scalar"),
        ("r.example/\n      a:1", "several lines"),
    ],
)
def test_yaml_values_that_are_not_literal_text_are_not_pinnable(value: str, why: str) -> None:
    text = f"services:\n  a:\n    image: {value}\n"
    (found,) = find_in_text("compose.yml", text, {})
    assert found.target is None
    assert found.not_pinnable is not None
    assert why in found.not_pinnable


def test_yaml_anchor_and_tag_properties_are_skipped_for_the_span() -> None:
    text = "x: &img !!str r.example/a:1\nservices:\n  a: {image: *img}\n  b:\n    image: *img\n"
    (found,) = find_in_text("compose.yml", text, {})  # one node, reported once, at the anchor
    assert found.line == 1
    assert found.target is not None
    assert text[found.target.start : found.target.end] == "r.example/a:1"


def test_invalid_yaml_is_a_file_problem_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n  a:\n    image: [unclosed\n  b: c: d\n")
    scan = scan_paths([str(path)], {})
    assert scan.findings == []
    (problem,) = scan.problems
    assert problem.line is not None
    assert "not valid YAML" in problem.message


def test_non_utf8_and_huge_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"image: caf\xe9\n")
    scan = scan_paths([str(tmp_path / "latin1.yaml")], {})
    assert "not UTF-8" in scan.problems[0].message


def test_alias_bomb_does_not_explode() -> None:
    """BI: a 'billion laughs' document is walked in linear time (shared nodes are visited once)."""
    lines = ['a0: &a0 {image: {repository: "r.example/x", tag: "1"}}']
    for i in range(1, 30):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    findings = find_in_text("values.yaml", "\n".join(lines) + "\n", {})
    assert len(findings) == 1


def test_deeply_nested_yaml_is_bounded() -> None:
    text = "a: " + "[" * 200 + "]" * 200 + "\n"
    assert find_in_text("values.yaml", text, {}) == []


# ----------------------------------------------------------------------------------------------------------------
# Edits
# ----------------------------------------------------------------------------------------------------------------

D1 = Digest("sha256", "1" * 64)
D2 = Digest("sha256", "2" * 64)


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("r.example/a:1", "reference", f"r.example/a:1@{D1}"),
        ("r.example/a", "reference", f"r.example/a:latest@{D1}"),
        ("localhost:5000/a", "reference", f"localhost:5000/a:latest@{D1}"),
        (f"r.example/a:1@{D2}", "reference", f"r.example/a:1@{D1}"),
        ("v1", "tag", f"v1@{D1}"),
        (f"v1@{D2}", "tag", f"v1@{D1}"),
        ("", "digest", str(D1)),
        (str(D2), "digest", str(D1)),
    ],
)
def test_new_value(value: str, mode: str, expected: str) -> None:
    assert new_value(Target(0, len(value), value, mode), D1) == expected


def test_apply_edits_refuses_stale_or_overlapping_spans() -> None:
    text = "image: a:1\n"
    assert apply_edits(text, [(Target(7, 10, "a:1"), "a:1@x")]) == "image: a:1@x\n"
    with pytest.raises(Exception, match="does not match"):
        apply_edits(text, [(Target(6, 9, "a:1"), "x")])
    with pytest.raises(Exception, match="overlapping"):
        apply_edits(text, [(Target(7, 10, "a:1"), "x"), (Target(8, 10, ":1"), "y")])


def test_unified_diff_marks_a_missing_final_newline() -> None:
    diff = unified_diff("f.yml", "image: a:1", "image: a:1@x")
    assert diff.startswith("--- a/f.yml\n+++ b/f.yml\n")
    assert "\\ No newline at end of file" in diff


class PinClient:
    """Resolves tags from a table; digests exist if listed in ``known``."""

    def __init__(
        self, tags: dict[str, Digest], known: set[Digest], denied: frozenset[str] = frozenset()
    ) -> None:
        self.tags = tags
        self.known = known
        self.denied = denied

    def digest(self, ref: Reference, *, platform: Any = None) -> Digest:
        if ref.repository.path in self.denied:
            raise PermissionDenied("denied")
        found = self.tags.get(f"{ref.repository.path}:{ref.tag}")
        if found is None:
            raise NotFound("absent")
        return found

    def head_manifest(self, ref: Reference, *, deadline: Any = None) -> ManifestInfo:
        if ref.digest not in self.known:
            raise NotFound("absent")
        return ManifestInfo(ref, ref.digest, None, None)


def test_plan_pins_every_sample_is_byte_exact_and_idempotent(tmp_path: Path) -> None:
    """Only the image values change; a second pin plans nothing."""
    write_samples(tmp_path)
    digests = {f"group/project:{t}": D1 for t in ("oci", "index", "docker", "list", "v1.2.3", "stable")}
    digests["group/sub/project/image:latest"] = D2
    client = PinClient(digests, {D1, D2})
    env = {"REGISTRY_HOST": REG}
    scan = scan_paths([str(tmp_path)], env)
    plans = plan_pins(client, scan, env)  # type: ignore[arg-type]
    assert {c.action for p in plans for c in p.changes} == {"pinned", "skipped"}
    for plan in plans:
        expected = plan.old_text
        pinned = [c for c in plan.changes if c.action == "pinned"]
        assert pinned
        for change in sorted(pinned, key=lambda c: -c.finding.target.start):  # type: ignore[union-attr]
            target = change.finding.target
            assert target is not None
            expected = expected[: target.start] + f"{target.value}" + expected[target.end :]
        # Removing what was inserted gives back the original, byte for byte.
        restored = plan.new_text
        for change in pinned:
            assert change.new is not None
            restored = restored.replace(change.new, change.finding.target.value, 1)  # type: ignore[union-attr]
        assert restored == plan.old_text
        write_atomic(plan.path, plan.new_text, plan.old_text)
    again = plan_pins(client, scan_paths([str(tmp_path)], env), env)  # type: ignore[arg-type]
    assert all(not p.changed for p in again)
    assert {c.action for p in again for c in p.changes} == {"kept", "skipped"}


def test_plan_pins_helm_writes_tag_and_digest_fields(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(sample("values.yaml"))
    client = PinClient(
        {"group/project:v1.2.3": D1, "group/project:oci": D1, "group/project:index": D2}, {D1, D2}
    )
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {})  # type: ignore[arg-type]
    assert f'  tag: "v1.2.3@{D1}"\n' in plan.new_text
    assert f'    digest: "{D1}"\n' in plan.new_text
    assert "    tag: oci\n" in plan.new_text  # the tag stays when a digest field exists
    assert f"image: {{repository: '{REG}/group/project', tag: index@{D2}}}" in plan.new_text


def test_plan_pins_kustomization_writes_the_digest_fields(tmp_path: Path) -> None:
    """kustomize: the digest goes into digest: (empty key or empty quotes); the tag lines stay as written."""
    path = tmp_path / "kustomization.yaml"
    path.write_text(sample("kustomization.yaml"))
    client = PinClient(
        {"group/project:v1.2.3": D1, "group/project:oci": D1, "group/project:index": D2}, {D1, D2}
    )
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {})  # type: ignore[arg-type]
    expected = (
        sample("kustomization.yaml")
        .replace("    digest:\n", f"    digest: {D1}\n")
        .replace("newTag: index, digest: ''}", f"newTag: index, digest: '{D2}'}}")
    )
    assert plan.new_text == expected
    assert [c.action for c in plan.changes].count("skipped") == 2  # no digest: field; no tag


def test_plan_pins_update_and_outdated(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  a:\n    image: r.example/app:1@{D2}  # pinned\n")
    client = PinClient({"app:1": D1}, {D1, D2})
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {})  # type: ignore[arg-type]
    assert plan.changes[0].action == "outdated"
    assert not plan.changed
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {}, update=True)  # type: ignore[arg-type]
    assert plan.changes[0].action == "updated"
    assert plan.new_text == f"services:\n  a:\n    image: r.example/app:1@{D1}  # pinned\n"


def test_plan_pins_pinned_digest_that_vanished_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(
        f"services:\n  a:\n    image: r.example/app:1@{D2}\n  b:\n    image: r.example/gone@{D2}\n"
    )
    client = PinClient({"app:1": D1}, {D1})
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {})  # type: ignore[arg-type]
    assert [c.action for c in plan.changes] == ["error", "error"]
    assert all(isinstance(c.error, NotFound) for c in plan.changes)


def test_plan_pins_errors_and_invalid_references(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  a:\n    image: r.example/secret/app:1\n  b:\n    image: Bad//Ref\n")
    client = PinClient({}, set(), denied=frozenset({"secret/app"}))
    (plan,) = plan_pins(client, scan_paths([str(path)], {}), {})  # type: ignore[arg-type]
    assert [type(c.error).__name__ for c in plan.changes] == ["PermissionDenied", "InvalidReference"]
    assert not plan.changed


def test_write_atomic_keeps_mode_and_refuses_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    path = tmp_path / "w" / "compose.yaml"
    path.write_text("old\n")
    path.chmod(0o640)
    write_atomic(str(path), "new\n", "old\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    with pytest.raises(UsageError, match="changed while"):
        write_atomic(str(path), "newer\n", "old\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["compose.yaml"]  # no temporary file left


def test_write_atomic_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_atomic(str(link), "new\n", "old\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"


def test_plan_pins_keeps_crlf_and_fills_an_empty_helm_digest(tmp_path: Path) -> None:
    """Windows line endings survive; ``digest:`` with no value gets ``digest: sha256:…``."""
    compose = tmp_path / "compose.yaml"
    compose.write_bytes(b"services:\r\n  a:\r\n    image: r.example/app:1\r\n")
    values = tmp_path / "values.yaml"
    values.write_bytes(b"image:\n  repository: r.example/app\n  tag: '1'\n  digest:\n  pullPolicy: Always\n")
    client = PinClient({"app:1": D1}, {D1})
    plans = plan_pins(client, scan_paths([str(compose), str(values)], {}), {})  # type: ignore[arg-type]
    assert [p.new_text for p in plans] == [
        f"services:\r\n  a:\r\n    image: r.example/app:1@{D1}\r\n",
        f"image:\n  repository: r.example/app\n  tag: '1'\n  digest: {D1}\n  pullPolicy: Always\n",
    ]
