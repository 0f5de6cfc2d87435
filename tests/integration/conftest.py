"""Fixtures shared by the integration modules that run pipelines (integration.gitlabci)."""

from integration.gitlabci import gitlab_ci_local, ocireg_bin

__all__ = ["gitlab_ci_local", "ocireg_bin"]
