"""The fast tensor loader and the MNIST file checks."""

from __future__ import annotations

import struct

import pytest
import torch

from lenet_course import data
from lenet_course.errors import DataError


def _synthetic(n: int = 250):
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    return data.to_inputs(images), torch.arange(n) % 10


def test_batches_have_lecture_shapes_dtype_and_range():
    x, y = _synthetic(250)
    loader = data.TensorLoader(x, y, batch_size=100, seed=0)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(100, 1, 28, 28), (100, 1, 28, 28), (50, 1, 28, 28)]
    for inputs, labels in batches:
        assert inputs.dtype == torch.float32 and labels.dtype == torch.int64
        assert inputs.min() >= 0.0 and inputs.max() <= 1.0
    assert len(loader) == 3


def test_len_is_600_for_the_training_set_size():
    loader = data.TensorLoader(
        torch.zeros(60_000, 1, 28, 28), torch.zeros(60_000, dtype=torch.long)
    )
    assert len(loader) == 600


def test_an_epoch_covers_every_sample_exactly_once():
    n = 250
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    loader = data.TensorLoader(x, torch.arange(n), batch_size=64, seed=3)
    seen = torch.cat([labels for _, labels in loader])
    assert sorted(seen.tolist()) == list(range(n))
    pixel_ids = torch.cat([inputs[:, 0, 0, 0] for inputs, _ in loader]).long()
    assert sorted(pixel_ids.tolist()) == list(range(n)), "inputs and labels must stay paired"


def test_inputs_and_labels_stay_paired_after_shuffling():
    n = 300
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    for inputs, labels in data.TensorLoader(x, torch.arange(n), batch_size=100, seed=5):
        assert torch.equal(inputs[:, 0, 0, 0].long(), labels)


def test_shuffling_changes_order_between_epochs():
    x, y = _synthetic(250)
    loader = data.TensorLoader(x, torch.arange(250), batch_size=250, seed=0)
    first, second = (next(iter(loader))[1] for _ in range(2))
    assert not torch.equal(first, second)
    assert not torch.equal(first, torch.arange(250))


def test_same_seed_gives_same_batches_and_other_seed_differs():
    x, y = _synthetic(250)

    def order(seed):
        return torch.cat([lab for _, lab in data.TensorLoader(x, torch.arange(250), seed=seed)])

    assert torch.equal(order(7), order(7))
    assert not torch.equal(order(7), order(8))


def test_unshuffled_loader_keeps_file_order():
    x, y = _synthetic(250)
    got = torch.cat([lab for _, lab in data.TensorLoader(x, torch.arange(250), shuffle=False)])
    assert torch.equal(got, torch.arange(250))


def test_data_root_comes_from_flag_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.resolve_root(tmp_path / "flag") == tmp_path / "flag"
    assert data.resolve_root(None) == tmp_path / "env"
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.resolve_root(None) == tmp_path / "cache" / "lenet-course" / "data"


# --- file checks on copies of the real files in a temporary folder -----------------------


@pytest.mark.mnist
def test_real_mnist_passes_the_checks(mnist_copy):
    data.verify(mnist_copy)


@pytest.mark.mnist
def test_truncated_file_is_named_in_the_error(mnist_copy):
    path = data.raw_folder(mnist_copy) / "train-images-idx3-ubyte"
    with path.open("r+b") as fh:
        fh.truncate(1_000_000)
    with pytest.raises(DataError, match=r"truncated.*train-images-idx3-ubyte.*1,000,000 bytes"):
        data.verify(mnist_copy)


@pytest.mark.mnist
def test_wrong_magic_number_is_named_in_the_error(mnist_copy):
    path = data.raw_folder(mnist_copy) / "t10k-labels-idx1-ubyte"
    with path.open("r+b") as fh:
        fh.write(struct.pack(">I", 2051))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte starts with magic number 2051"):
        data.verify(mnist_copy)


@pytest.mark.mnist
def test_wrong_item_count_is_named_in_the_error(mnist_copy):
    path = data.raw_folder(mnist_copy) / "train-labels-idx1-ubyte"
    with path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack(">I", 59_999))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte says it holds 59,999 items"):
        data.verify(mnist_copy)


@pytest.mark.mnist
def test_missing_file_is_named_in_the_error(mnist_copy):
    (data.raw_folder(mnist_copy) / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match=r"missing: .*t10k-images-idx3-ubyte"):
        data.verify(mnist_copy)


def test_missing_folder_without_download_says_where_it_looked(tmp_path):
    with pytest.raises(
        DataError, match=r"(?s)looked for .*MNIST/raw.*--data DIR or set LENET_DATA"
    ):
        data.prepare(tmp_path / "nowhere", download=False)


@pytest.mark.mnist
def test_real_splits_load_as_lecture_tensors(mnist_root):
    train, test = data.tensor_loaders(mnist_root, batch_size=100)
    assert len(train) == 600 and test.num_samples == 10_000
    inputs, labels = next(iter(train))
    assert inputs.shape == (100, 1, 28, 28) and inputs.dtype == torch.float32
    assert 0.0 <= inputs.min() and inputs.max() <= 1.0
    assert torch.bincount(test.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
