# Style: pytorch/examples mnist/main.py as of 2017-2018 (PyTorch 0.3/0.4); idioms: Variable wrappers, .data, F.nll_loss(..., size_average=False) summed test loss, output.data.max(1, keepdim=True)[1], pred.eq(target.data.view_as(pred)).cpu().sum(), 100. * correct / len(test_loader.dataset), a progress print every fifth of the epoch.
import time

import torch
import torch.nn.functional as F
import torch.optim as optim
from torch.autograd import Variable

from lenet_course.runtime import EpochRecord


def evaluate(model, test_loader, device="cpu"):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            data, target = Variable(data), Variable(target)
            output = model(data)
            test_loss += F.nll_loss(output, target, size_average=False).item()  # sum up batch loss
            pred = output.data.max(1, keepdim=True)[1]  # get the index of the max log-probability
            correct += pred.eq(target.data.view_as(pred)).cpu().sum().item()

    test_loss /= len(test_loader.dataset)
    print(
        "\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(  # noqa: UP032
            test_loss, correct, len(test_loader.dataset), 100.0 * correct / len(test_loader.dataset)
        )
    )
    return 100.0 * correct / len(test_loader.dataset)


def train(model, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    log_interval = len(train_loader) // 5 or 1
    records = []
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.time()
        train_loss = 0
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = Variable(data.to(device)), Variable(target.to(device))
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            train_loss += loss.data.item()
            if batch_idx % log_interval == 0:
                print(
                    "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(  # noqa: UP032
                        epoch,
                        batch_idx * len(data),
                        len(train_loader.dataset),
                        100.0 * batch_idx / len(train_loader),
                        loss.data.item(),
                    )
                )
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        elapsed = time.time() - start
        records.append(
            EpochRecord(
                epoch, train_loss / len(train_loader), evaluate(model, test_loader, device), elapsed
            )
        )
    return records
