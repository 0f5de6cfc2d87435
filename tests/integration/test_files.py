"""Issue #4 acceptance: ``ocireg check`` and ``ocireg pin`` on every file kind against the real rig (PC, SEC, BI).

The sample files (tests/data/imagefiles) carry comments, odd quoting, a merge key, flow mappings, a line
continuation and variables; ``@REGISTRY@`` becomes the rig's host. Pinning must change the image values and
nothing else, byte for byte, and a second ``pin --write`` must change nothing.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from clirunner import creds, run_cli
from rig import Rig
from rig.tokenserver import ALICE, ALICE_PASSWORD

DATA = Path(__file__).resolve().parent.parent / "data" / "imagefiles"
SAMPLES = ("docker-compose.yml", "k8s.yaml", ".gitlab-ci.yml", "Dockerfile", "values.yaml")
ALICE_ENV = creds(ALICE, ALICE_PASSWORD)
PROJECT = "group/project"
NESTED = "group/sub/project/image"


def write_samples(directory: Path, host: str) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    texts = {}
    for name in SAMPLES:
        text = (DATA / name).read_text(encoding="utf-8").replace("@REGISTRY@", host)
        (directory / name).write_text(text, encoding="utf-8", newline="")
        texts[name] = text
    return texts


def env_for(rig: Rig) -> dict[str, str]:
    return {**ALICE_ENV, "REGISTRY_HOST": rig.host}


def expected_pins(rig: Rig, texts: dict[str, str]) -> dict[str, str]:
    """The sample files as they must read after pinning: each literal image value + @digest, nothing else."""
    host = rig.host

    def d(repo: str, tag: str) -> str:
        return rig.seeded.digest(repo, tag)

    def pin(text: str, old: str, new: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    out = {}
    text = texts["docker-compose.yml"]
    for tag in ("oci", "v1.2.3", "index", "docker"):  # cache uses ${REGISTRY_HOST}: checked, not pinned
        ref = f"{host}/{PROJECT}:{tag}"
        text = pin(text, ref, f"{ref}@{d(PROJECT, tag)}")
    out["docker-compose.yml"] = text
    text = texts["k8s.yaml"]
    for tag in ("docker", "list", "oci", "stable", "v1.2.3"):
        ref = f"{host}/{PROJECT}:{tag}"
        text = pin(text, ref, f"{ref}@{d(PROJECT, tag)}")
    ref = f"{host}/{NESTED}:latest"
    out["k8s.yaml"] = pin(text, ref, f"{ref}@{d(NESTED, 'latest')}")
    text = texts[".gitlab-ci.yml"]
    for tag in ("oci", "docker", "index", "stable", "list"):  # $BASE_TAG and $CI_REGISTRY_IMAGE: not pinned
        ref = f"{host}/{PROJECT}:{tag}"
        text = pin(text, ref, f"{ref}@{d(PROJECT, tag)}")
    ref = f"{host}/{NESTED}:latest"
    out[".gitlab-ci.yml"] = pin(text, ref, f"{ref}@{d(NESTED, 'latest')}")
    text = texts["Dockerfile"]
    for tag in ("index", "docker", "oci"):  # ${REG}/...:${TAG} is checked, not pinned
        ref = f"{host}/{PROJECT}:{tag}"
        text = pin(text, ref, f"{ref}@{d(PROJECT, tag)}")
    out["Dockerfile"] = text
    text = texts["values.yaml"]
    text = pin(text, 'tag: "v1.2.3"', f'tag: "v1.2.3@{d(PROJECT, "v1.2.3")}"')
    text = pin(text, 'digest: ""', f'digest: "{d(PROJECT, "oci")}"')
    out["values.yaml"] = pin(text, "tag: index}", f"tag: index@{d(PROJECT, 'index')}}}")
    return out


def test_check_every_file_kind_reports_file_line_and_digest(token_rig: Rig, tmp_path: Path) -> None:
    """PC: check finds compose/k8s/GitLab CI/Dockerfile/Helm references, verifies each, file:line per result."""
    write_samples(tmp_path / "deploy", token_rig.host)
    result = run_cli(["check", "-o", "json", str(tmp_path / "deploy")], env_for(token_rig))
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["schema"] == 1
    assert doc["command"] == "check"
    by_status: dict[str, list[dict[str, object]]] = {}
    for item in doc["results"]:
        by_status.setdefault(str(item["status"]), []).append(item)
    assert set(by_status) == {"present", "skipped"}
    assert {str(r["kind"]) for r in by_status["present"]} == {
        "compose",
        "kubernetes",
        "gitlab-ci",
        "dockerfile",
        "helm",
    }
    assert len(by_status["present"]) == 25
    for item in by_status["present"]:
        reference = str(item["reference"])
        repo, _, tag = reference.removeprefix(token_rig.host + "/").partition(":")
        assert item["digest"] == token_rig.seeded.digest(repo, tag), item
        assert isinstance(item["line"], int)
    skipped = {(Path(str(r["file"])).name, r["line"]) for r in by_status["skipped"]}
    assert skipped == {(".gitlab-ci.yml", 31), ("values.yaml", 21)}

    text = run_cli(["check", str(tmp_path / "deploy")], env_for(token_rig))
    assert text.code == 0
    rows = {Path(r[0]).name: r[1:] for r in (line.split(None, 3) for line in text.out.splitlines())}
    assert rows["k8s.yaml:17"][:2] == ["present", f"{token_rig.host}/{PROJECT}:list"]
    assert rows["values.yaml:21"][0] == "skipped"

    strict = run_cli(["check", "--strict", str(tmp_path / "deploy")], env_for(token_rig))
    assert strict.code == 2


def test_check_variables_come_from_the_environment(token_rig: Rig, tmp_path: Path) -> None:
    """An unresolved ${VAR} is skipped with the reason; set in the environment it is checked."""
    write_samples(tmp_path, token_rig.host)
    compose = str(tmp_path / "docker-compose.yml")
    without = run_cli(["check", compose], ALICE_ENV)
    assert without.code == 0
    assert "unresolved variable $REGISTRY_HOST" in without.out
    with_env = run_cli(["check", "-o", "json", compose], env_for(token_rig))
    statuses = [r["status"] for r in json.loads(with_env.out)["results"]]
    assert statuses == ["present"] * 5


def test_check_absent_and_denied_exit_code_and_locations(token_rig: Rig, tmp_path: Path) -> None:
    """PC: absent (1) and denied (4) per reference with file:line; the exit code is the most serious (4)."""
    host = token_rig.host
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        f"  ok:\n    image: {host}/{PROJECT}:v1.2.3\n"
        f"  gone:\n    image: {host}/{PROJECT}:no-such-tag\n"
        f"  secret:\n    image: {host}/other/secret:1\n"
    )
    result = run_cli(["check", str(path)], ALICE_ENV)
    assert result.code == 4
    rows = [line.split()[:2] for line in result.out.splitlines()]
    assert rows == [[f"{path}:3", "present"], [f"{path}:5", "absent"], [f"{path}:7", "error"]]
    assert f"{path}:7: " in result.err
    assert "alice-password" not in result.both


def test_check_named_file_that_does_not_parse_is_exit_2(token_rig: Rig, tmp_path: Path) -> None:
    """BI: a named file that is not valid YAML is an input error (exit 2) with its line; no request is sent."""
    assert token_rig.token_server is not None
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  a:\n    image: [unclosed\n")
    result = run_cli(["check", str(bad)], ALICE_ENV)
    assert result.code == 2
    assert f"{bad}:" in result.err
    assert "not valid YAML" in result.err
    assert token_rig.token_server.count == 0
    missing = run_cli(["check", str(tmp_path / "nope")], ALICE_ENV)
    assert missing.code == 2
    assert "no such file" in missing.err


def test_pin_diff_write_byte_exact_and_idempotent(token_rig: Rig, tmp_path: Path) -> None:
    """SEC (digest pinning): pin rewrites only the image values; a second pin --write changes nothing."""
    directory = tmp_path / "deploy"
    texts = write_samples(directory, token_rig.host)
    expected = expected_pins(token_rig, texts)
    env = env_for(token_rig)

    dry = run_cli(["pin", str(directory)], env)
    assert dry.code == 0, dry.err
    assert dry.out.count("--- a/") == 5
    for name in SAMPLES:  # nothing written without --write
        assert (directory / name).read_bytes() == texts[name].encode()

    wrote = run_cli(["pin", "--write", str(directory)], env)
    assert wrote.code == 0, wrote.err
    for name in SAMPLES:
        assert (directory / name).read_bytes() == expected[name].encode(), name
    assert "wrote 5 file(s)" in wrote.err

    again = run_cli(["pin", "--write", str(directory)], env)
    assert again.code == 0, again.err
    for name in SAMPLES:
        assert (directory / name).read_bytes() == expected[name].encode(), name
    actions = {line.split()[1] for line in again.out.splitlines()}
    assert actions == {"kept", "skipped"}
    assert "no file written" in again.err
    assert run_cli(["pin", str(directory)], env).out == ""  # no diff left

    check = run_cli(["check", "-o", "json", str(directory)], env)
    assert check.code == 0
    pinned = [r for r in json.loads(check.out)["results"] if r["status"] == "present"]
    assert sum("@sha256:" in str(r["expanded"]) for r in pinned) == 22


def test_pin_writes_nothing_when_a_reference_cannot_be_resolved(token_rig: Rig, tmp_path: Path) -> None:
    """Never lose data: one absent reference and no file is written (exit 1)."""
    host = token_rig.host
    good = tmp_path / "a.yaml"
    good.write_text(f"services:\n  ok:\n    image: {host}/{PROJECT}:oci\n")
    bad = tmp_path / "b.yaml"
    bad.write_text(f"services:\n  gone:\n    image: {host}/{PROJECT}:no-such-tag\n")
    before = {p: p.read_bytes() for p in (good, bad)}
    result = run_cli(["pin", "--write", str(good), str(bad)], ALICE_ENV)
    assert result.code == 1
    assert "no file was written" in result.err
    assert f"{bad}:3" in result.err
    assert {p: p.read_bytes() for p in (good, bad)} == before


def test_pin_reports_files_already_written_when_a_later_write_fails(
    token_rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never lose data: files are replaced one by one; if a later one fails, the user learns which were done."""
    from ocireg.errors import UsageError
    from ocireg.operations import pin

    host = token_rig.host
    first = tmp_path / "a.yaml"
    first.write_text(f"services:\n  ok:\n    image: {host}/{PROJECT}:oci\n")
    second = tmp_path / "b.yaml"
    second.write_text(f"services:\n  ok:\n    image: {host}/{PROJECT}:docker\n")
    real = pin.write_atomic
    calls: list[str] = []

    def flaky(path: str, new: str, expected_old: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise UsageError(f"{path}: changed since it was read; the file is unchanged")
        real(path, new, expected_old)

    monkeypatch.setattr(pin, "write_atomic", flaky)
    result = run_cli(["pin", "--write", str(first), str(second)], ALICE_ENV)
    assert result.code == 2
    assert "files already rewritten" in result.err
    assert calls[0] in result.err
    assert "@sha256:" in Path(calls[0]).read_text()
    assert "@sha256:" not in Path(calls[1]).read_text()


def test_pin_update_follows_a_moved_tag(token_rig: Rig, tmp_path: Path) -> None:
    """A pinned reference whose tag moved is reported outdated and kept; --update refreshes it."""
    repo = f"{PROJECT}/pin-{uuid.uuid4().hex[:8]}"
    with token_rig.pusher() as pusher:
        first = pusher.push_image(repo, "v1", label=f"{repo}-first")
        path = tmp_path / "compose.yaml"
        path.write_text(f"services:\n  app:\n    image: {token_rig.host}/{repo}:v1   # app\n")
        assert run_cli(["pin", "--write", str(path)], ALICE_ENV).code == 0
        pinned = path.read_text()
        assert pinned == f"services:\n  app:\n    image: {token_rig.host}/{repo}:v1@{first.digest}   # app\n"
        second = pusher.push_image(repo, "v1", label=f"{repo}-second")
    outdated = run_cli(["pin", "--write", str(path)], ALICE_ENV)
    assert outdated.code == 0
    assert path.read_text() == pinned
    assert "outdated" in outdated.out
    assert second.digest in outdated.out
    updated = run_cli(["pin", "--write", "--update", str(path)], ALICE_ENV)
    assert updated.code == 0, updated.err
    assert path.read_text() == pinned.replace(first.digest, second.digest)


def test_pin_platform_pins_the_child_digest(token_rig: Rig, tmp_path: Path) -> None:
    """--platform pins one platform's image out of an index."""
    index = token_rig.seeded.get(PROJECT, "index")
    arm = next(c for c in index.children if c.platform is not None and c.platform[1] == "arm64")
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM {token_rig.host}/{PROJECT}:index\n")
    result = run_cli(["pin", "--platform", "linux/arm64", "--write", str(path)], ALICE_ENV)
    assert result.code == 0, result.err
    assert path.read_text() == f"FROM {token_rig.host}/{PROJECT}:index@{arm.digest}\n"


@pytest.mark.parametrize("output", ["text", "json"])
def test_pin_never_prints_credentials(token_rig: Rig, tmp_path: Path, output: str) -> None:
    """SEC: no password in any output of pin, also with --debug."""
    write_samples(tmp_path, token_rig.host)
    result = run_cli(["pin", "--debug", "-o", output, str(tmp_path / "k8s.yaml")], ALICE_ENV)
    assert result.code == 0
    assert ALICE_PASSWORD not in result.both


def test_kustomization_check_and_pin_against_the_registry(token_rig: Rig, tmp_path: Path) -> None:
    """PC: kustomize images are checked (name:tag, name@digest) and pinned into their digest: fields, idempotently."""
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    path = overlay / "kustomization.yaml"
    text = (DATA / "kustomization.yaml").read_text(encoding="utf-8").replace("@REGISTRY@", token_rig.host)
    path.write_text(text, encoding="utf-8", newline="")
    env = env_for(token_rig)

    check = run_cli(["check", "-o", "json", str(tmp_path)], env)
    assert check.code == 0, check.err
    results = json.loads(check.out)["results"]
    assert [(r["line"], r["status"]) for r in results] == [
        (8, "present"),
        (11, "present"),
        (13, "present"),
        (15, "skipped"),
    ]
    assert {r["kind"] for r in results} == {"kustomize"}

    wrote = run_cli(["pin", "--write", str(tmp_path)], env)
    assert wrote.code == 0, wrote.err
    d1 = token_rig.seeded.digest(PROJECT, "v1.2.3")
    d2 = token_rig.seeded.digest(PROJECT, "index")
    expected = text.replace("    digest:\n", f"    digest: {d1}\n").replace(
        "newTag: index, digest: ''}", f"newTag: index, digest: '{d2}'}}"
    )
    assert path.read_bytes() == expected.encode()
    assert run_cli(["pin", str(tmp_path)], env).out == ""  # idempotent: no diff left

    # The digest now decides what is deployed: a digest that does not exist is reported, tag or not.
    path.write_text(expected.replace(d1, "sha256:" + "0" * 64), encoding="utf-8")
    gone = run_cli(["check", str(tmp_path)], env)
    assert gone.code == 1, gone.both


def test_pin_check_verifies_pinned_digests_in_the_registry(token_rig: Rig, tmp_path: Path) -> None:
    """#18, SEC (digest pinning): `pin --check` (online) passes pinned references whose digest exists, fails
    (exit 1, FILE:LINE) on a pinned digest the registry does not have and on a reference without a digest;
    `--offline` only reads the file and so passes the made-up digest. Nothing is written."""
    host = token_rig.host
    good = token_rig.seeded.digest(PROJECT, "oci")
    made_up = "sha256:" + "0" * 64
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        f"services:\n  a:\n    image: {host}/{PROJECT}:oci@{good}\n  b:\n    image: {host}/{PROJECT}@{made_up}\n"
    )
    before = compose.read_bytes()
    online = run_cli(["pin", "--check", str(compose)], ALICE_ENV)
    assert online.code == 1, online.err
    assert f"{compose}:5: " in online.err
    assert f"{compose}:3" not in online.err
    offline = run_cli(["pin", "--check", "--offline", str(compose)], ALICE_ENV)
    assert offline.code == 0, offline.err
    compose.write_text(f"services:\n  a:\n    image: {host}/{PROJECT}:oci@{good}\n")
    assert run_cli(["pin", "--check", str(compose)], ALICE_ENV).code == 0
    compose.write_text(f"services:\n  a:\n    image: {host}/{PROJECT}:oci\n")
    unpinned = run_cli(["pin", "--check", str(compose)], ALICE_ENV)
    assert unpinned.code == 1
    assert f"{compose}:3: not pinned" in unpinned.out
    assert before != compose.read_bytes()  # only the test rewrote it
