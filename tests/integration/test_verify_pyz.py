"""The single-file build has no ``cryptography`` (#18): ``verify`` and ``--verify-key`` explain how to get it and
exit 2; they never pass (#24). Catalogue: BI."""

from __future__ import annotations

from pathlib import Path

from integration.test_pyz import _run, pyz  # noqa: F401 - the module-scoped build fixture

KEY = Path(__file__).resolve().parents[1] / "data" / "signatures" / "containers-image" / "cosign.pub"


def test_pyz_verify_without_cryptography_exits_2(pyz: Path, tmp_path: Path) -> None:  # noqa: F811
    for args in (
        ["verify", "--key", str(KEY), "127.0.0.1:9/app:v1"],
        ["exists", "--verify-key", str(KEY), "127.0.0.1:9/app:v1"],
        ["check", "--verify-key", str(KEY), str(tmp_path)],
    ):
        result = _run(pyz, args, tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "pip install 'ocireg[verify]'" in result.stderr
        assert "Traceback" not in result.stderr
