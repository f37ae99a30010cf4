"""The declared probes a new exercise's tests observe through, run by a real worker: a
function called on the judge's inputs (`call`) and data the student defines (`attribute`).
What comes back keeps its dtype and shape, or the student reads why it cannot cross."""

from __future__ import annotations

import pytest
import torch

from lenet_course.grading.blame import StudentFailure
from lenet_course.grading.jail import client, limits

DEMO = """
import torch

CLASSES = ("zero", "one")
COUNTS = torch.tensor([[3, 1], [0, 2]])
net = torch.nn.Linear(2, 1)


def confusion(labels, guesses):
    out = torch.zeros(2, 2, dtype=torch.int64)
    for a, b in zip(labels.tolist(), guesses.tolist()):
        out[a, b] += 1
    return out


def shaped():
    return object()
"""


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submission")
    (folder / "ex9_demo.py").write_text(DEMO)
    folder.chmod(0o755)  # the jailed worker reads it as a uid of its own
    w = client.Worker("ex9_demo", folder, limits=limits.Limits(),
                      workdir=tmp_path_factory.mktemp("work"))  # fmt: skip
    yield w
    w.stop()


def test_call_returns_the_functions_tensor_with_its_dtype_and_shape(worker):
    labels, guesses = torch.tensor([0, 0, 1, 1, 0]), torch.tensor([0, 1, 1, 1, 0])
    got = worker.call("call", timeout=60, module="ex9_demo", function="confusion",
                      args=[labels, guesses])["result"]  # fmt: skip
    assert got.dtype == torch.int64 and got.tolist() == [[2, 1], [0, 2]]


def test_attribute_returns_data_and_dotted_tensors_as_they_are(worker):
    def read(name):
        return worker.call("attribute", timeout=60, module="ex9_demo", name=name)["value"]

    assert read("CLASSES") == ["zero", "one"]
    counts = read("COUNTS")
    assert counts.dtype == torch.int64 and counts.tolist() == [[3, 1], [0, 2]]
    assert tuple(read("net.weight").shape) == (1, 2)


def test_what_cannot_cross_is_the_students_error_and_says_why(worker):
    with pytest.raises(StudentFailure, match=r"shaped\(\) is a object"):
        worker.call("call", timeout=60, module="ex9_demo", function="shaped")
    with pytest.raises(StudentFailure, match=r"ex9_demo.net has no attribute 'bias2'"):
        worker.call("attribute", timeout=60, module="ex9_demo", name="net.bias2")
    with pytest.raises(StudentFailure, match=r"must define 'MISSING'"):
        worker.call("attribute", timeout=60, module="ex9_demo", name="MISSING")
