"""The kit's task list: `nox --list` reads like a menu.

Sessions run in the environment nox is installed in (the kit's `.venv` from the README's
quick start), so torch is installed once, not once per session.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (real-MNIST tests included; set LENET_DATA for an offline copy)."""
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint the code with ruff and the Dockerfile with hadolint."""
    session.run("ruff", "check", ".")
    session.run("hadolint", "Dockerfile")
