"""Run the ocireg CLI in-process with an explicit environment, as tests and embedders do."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ocireg.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def run_cli(argv: list[str], env: Mapping[str, str] | None = None, *, stdin: str = "") -> Result:
    """``ocireg ARGV`` with ``os.environ`` (already isolated by the autouse fixture) plus ``env``."""
    full = dict(os.environ)
    full.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, full, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def creds(user: str, password: str) -> dict[str, str]:
    return {"OCIREG_USERNAME": user, "OCIREG_PASSWORD": password}
