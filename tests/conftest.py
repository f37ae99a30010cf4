"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil

import pytest

from lenet_course import data

pytest_plugins = ["lenet_course.grading.judge.plugin"]


def _real_mnist_root():
    root = data.resolve_root(None)
    if not (data.raw_folder(root) / data.FILES[0].name).is_file():
        msg = (
            f"real MNIST not found under {data.raw_folder(root)}; set {data.ENV_VAR} to a folder "
            "holding MNIST/raw/*-ubyte (or run `lenet-course train` once to download it)"
        )
        if os.environ.get("CI"):
            pytest.fail("CI must run the real-data tests: " + msg, pytrace=False)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def mnist_root():
    """The verified real MNIST root. Skips locally when absent; fails in CI."""
    root = _real_mnist_root()
    data.verify(root)
    return root


@pytest.fixture
def mnist_copy(mnist_root, tmp_path):
    """A writable copy of the real MNIST files in a temporary root, for damaging."""
    raw = data.raw_folder(tmp_path / "copy")
    raw.mkdir(parents=True)
    for spec in data.FILES:
        shutil.copyfile(data.raw_folder(mnist_root) / spec.name, raw / spec.name)
    return tmp_path / "copy"
