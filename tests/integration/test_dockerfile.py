"""The Dockerfile agrees with the kit. `nox -s image` builds it and `nox -s image_test` runs
its documented lines (tests/image/); these checks need no engine."""

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
    assert re.search(
        r"^RUN [^\n]*(?:\\\n[^\n]*)*?pip install [^\n]*" + re.escape(install), DOCKERFILE, re.M
    )


def test_image_runs_a_nox_session_that_exists():
    cmd = re.search(r'^CMD \["nox", "-s", "(\w+)"\]', DOCKERFILE, re.M).group(1)
    assert f"def {cmd}(session" in (ROOT / "noxfile.py").read_text()


def test_baked_data_path_is_where_the_kit_reads(monkeypatch):
    env = re.search(r"LENET_DATA=(\S+)", DOCKERFILE).group(1)
    assert f"lenet-course data --data {env}" in DOCKERFILE
    monkeypatch.setenv("LENET_DATA", env)
    assert data.resolve_root(None) == Path(env)


def test_image_pins_its_base_and_drops_root():
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", DOCKERFILE, re.M).group(1)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", DOCKERFILE, re.M), "the base is a build argument"
    assert ":" in base and not base.endswith(":latest"), base
    assert re.search(r"^USER (?!root|0\b)", DOCKERFILE, re.M)


def test_image_installs_the_torch_that_ci_tests():
    """The image's torch is the version this suite runs on (CI installs 2.14.1), as a CUDA
    build: PyPI's Linux wheels of that version carry the CUDA runtime."""
    import torch
    import torchvision

    pins = dict(re.findall(r"^ARG (TORCH(?:VISION)?_VERSION)=(\S+)", DOCKERFILE, re.M))
    assert pins.get("TORCH_VERSION") == torch.__version__.split("+")[0], (
        f"the Dockerfile installs torch {pins.get('TORCH_VERSION')}, CI tests {torch.__version__}"
    )
    assert pins.get("TORCHVISION_VERSION") == torchvision.__version__.split("+")[0]
    assert re.search(r'pip install [^\n]*"torch==\$\{TORCH_VERSION\}"', DOCKERFILE)


def test_readme_documents_docker_build_and_offline_gpu_runs():
    readme = (ROOT / "README.md").read_text()
    assert "docker build -t lenet-course ." in readme
    for what in ("lenet-course grade", "lenet-course train"):
        assert re.search(r"docker run --rm --gpus all --network none .*" + what, readme), what
