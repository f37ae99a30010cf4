# Style: d2l.ai "Dive into Deep Learning" train_ch6 / evaluate_accuracy_gpu; idioms: Accumulator, nn.CrossEntropyLoss on log-probabilities, a per-sample mean loss (l * X.shape[0] / n), an extra training-accuracy pass over the training loader after each epoch, a Timer class.
import time

import torch
from torch import nn

from lenet_course.runtime import EpochRecord


class Accumulator:
    """For accumulating sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]  # noqa: B905

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Timer:
    """Record multiple running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        self.tik = time.time()

    def stop(self):
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def sum(self):
        return sum(self.times)


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """Compute the accuracy for a model on a dataset using a GPU."""
    if isinstance(net, nn.Module):
        net.eval()  # Set the model to evaluation mode
        if not device:
            device = next(iter(net.parameters())).device
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X = X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def evaluate(net, loader, device="cpu"):
    return evaluate_accuracy_gpu(net, loader, device) * 100


def train(net, train_iter, test_iter, *, epochs=10, lr=1e-3, device="cpu"):
    """Train a model with a GPU (defined in Chapter 6)."""
    print("training on", device)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    timer = Timer()
    records = []
    for epoch in range(epochs):
        # Sum of training loss, sum of training accuracy, no. of examples
        metric = Accumulator(3)
        net.train()
        timer.start()
        for i, (X, y) in enumerate(train_iter):  # noqa: B007
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)  # noqa: E741
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        timer.stop()
        train_l = metric[0] / metric[2]
        train_acc = evaluate_accuracy_gpu(net, train_iter, device)  # on the trained net
        test_acc = evaluate_accuracy_gpu(net, test_iter, device)
        print(f"loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
        records.append(EpochRecord(epoch + 1, train_l, test_acc * 100, timer.times[-1]))
    print(f"{metric[2] * epochs / timer.sum():.1f} examples/sec on {str(device)}")
    return records
