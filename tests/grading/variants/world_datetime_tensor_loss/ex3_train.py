# Style: student homework with logging; idioms: epoch time with datetime.now() and total_seconds(), the loss accumulated as a tensor (total = total + loss.detach()) and .item() at the end of the epoch, optimizer.zero_grad() after the step.
from datetime import datetime

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    net.eval()
    n_correct = 0
    n_total = 0
    with torch.no_grad():
        for images, targets in loader:
            images, targets = images.to(device), targets.to(device)
            log_probs = net(images)
            n_correct += int((log_probs.argmax(dim=1) == targets).sum())
            n_total += int(targets.shape[0])
    return float(n_correct) / n_total * 100.0


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    optimizer.zero_grad()
    log = []
    for epoch in range(epochs):
        net.train()
        started = datetime.now()
        total = torch.tensor(0.0, device=device)
        n = 0
        for images, targets in train_loader:
            images, targets = images.to(device), targets.to(device)
            loss = F.nll_loss(net(images), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total = total + loss.detach()
            n += 1
        mean_loss = (total / n).item()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        duration = (datetime.now() - started).total_seconds()
        acc = evaluate(net, test_loader, device)
        print(
            f"[{datetime.now():%H:%M:%S}] epoch {epoch + 1} loss={mean_loss:.4f} acc={acc:.2f}% ({duration:.1f}s)"
        )
        log.append(
            EpochRecord(epoch=epoch + 1, train_loss=mean_loss, test_accuracy=acc, seconds=duration)
        )
    return log
