# Style: pytorch/examples mnist/main.py; idioms: 100. * correct / len(test_loader.dataset), test() summing test_loss, data/target + .to(device), argmax(keepdim) + pred.eq(target.view_as(pred)), a progress print every fifth of the epoch, import torch.optim as optim.
import time

import torch
import torch.nn.functional as F
import torch.optim as optim

from lenet_course.runtime import EpochRecord


def train_epoch(model, device, train_loader, optimizer, epoch):
    model.train()
    total_loss = 0.0
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
        if batch_idx % (len(train_loader) // 5) == 0:  # 5 prints per epoch
            print(
                "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(  # noqa: UP032
                    epoch,
                    batch_idx * len(data),
                    len(train_loader.dataset),
                    100.0 * batch_idx / len(train_loader),
                    loss.item(),
                )
            )
    return total_loss / len(train_loader)


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)

    print(
        "\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n".format(  # noqa: UP032
            test_loss, correct, len(test_loader.dataset), 100.0 * correct / len(test_loader.dataset)
        )
    )
    return 100.0 * correct / len(test_loader.dataset)


def evaluate(net, loader, device="cpu"):
    return test(net, device, loader)


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    device = torch.device(device)
    model = net.to(device)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    records = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(model, device, train_loader, optimizer, epoch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        accuracy = test(model, device, test_loader)
        records.append(EpochRecord(epoch, loss, accuracy, seconds))
    return records
