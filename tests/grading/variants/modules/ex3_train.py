"""The loop with net.zero_grad(), nn.NLLLoss, a loss accumulated as a tensor, and the
accuracy counted from the predictions' list."""

import time

import torch
from torch import nn

from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    net.train(False)
    correct, count = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            predictions = torch.argmax(net(images), 1).tolist()
            correct += sum(p == t for p, t in zip(predictions, labels.tolist(), strict=True))
            count += len(predictions)
    return float(100 * correct / count)


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    criterion = nn.NLLLoss()
    net.to(device)
    optimizer = torch.optim.Adam(params=net.parameters(), lr=lr)
    out = []
    for e in range(1, epochs + 1):
        net.train(True)
        begin = time.perf_counter()
        running, steps = None, 0
        for images, labels in train_loader:
            net.zero_grad(set_to_none=False)
            loss = criterion(net(images.to(device)), labels.to(device))
            loss.backward()
            optimizer.step()
            running = loss.detach() if running is None else running + loss.detach()
            steps += 1
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - begin
        out.append(
            EpochRecord(e, running.item() / steps, evaluate(net, test_loader, device), seconds)
        )
    return out
