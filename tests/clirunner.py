"""Run the ocireg CLI in-process with an explicit environment, as tests and embedders do."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ocireg.cli import main
from ocireg.cli.headstart import begin
from ocireg.headstart import HeadStart


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    head_start: HeadStart | None = None

    @property
    def both(self) -> str:
        return self.out + self.err


def run_cli(
    argv: list[str], env: Mapping[str, str] | None = None, *, stdin: str = "", head_start: bool = False
) -> Result:
    """``ocireg ARGV`` with ``os.environ`` (already isolated by the autouse fixture) plus ``env``.

    ``head_start``: as the installed command runs it, with the connections its command line names begun before
    it is parsed (``ocireg.cli.headstart``, #25); the result keeps them (``begun``, ``taken``)."""
    full = dict(os.environ)
    full.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    start = begin(argv, full) if head_start else None
    code = main(argv, full, stdin=io.StringIO(stdin), stdout=out, stderr=err, head_start=start)
    return Result(code, out.getvalue(), err.getvalue(), start)


def creds(user: str, password: str) -> dict[str, str]:
    return {"OCIREG_USERNAME": user, "OCIREG_PASSWORD": password}
