"""The Dockerfile cannot be built here (no Docker engine); check it agrees with the kit."""

from __future__ import annotations

import re
from pathlib import Path

from lenet_course import data
from tests.integration.test_project import quick_start

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_image_installs_the_kit_with_the_readme_install_step():
    setup, _ = quick_start()
    install = re.search(r"pip install (-e '\.\[dev\]')", setup).group(1)
    assert re.search(r"RUN pip install [^\n]*" + re.escape(install), DOCKERFILE)


def test_image_runs_a_nox_session_that_exists():
    cmd = re.search(r'^CMD \["nox", "-s", "(\w+)"\]', DOCKERFILE, re.M).group(1)
    assert f"def {cmd}(session" in (ROOT / "noxfile.py").read_text()


def test_baked_data_path_is_where_the_kit_reads(monkeypatch):
    env = re.search(r"LENET_DATA=(\S+)", DOCKERFILE).group(1)
    assert f"lenet-course data --data {env}" in DOCKERFILE
    monkeypatch.setenv("LENET_DATA", env)
    assert data.resolve_root(None) == Path(env)


def test_image_is_a_pinned_cuda_runtime_and_drops_root():
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M).group(1)
    assert "cuda" in base and ":" in base and not base.endswith(":latest")
    assert re.search(r"^USER (?!root|0\b)", DOCKERFILE, re.M)


def test_readme_documents_docker_build_and_offline_gpu_runs():
    readme = (ROOT / "README.md").read_text()
    assert "docker build -t lenet-course ." in readme
    for what in ("lenet-course grade", "lenet-course train"):
        assert re.search(r"docker run --rm --gpus all --network none .*" + what, readme), what
