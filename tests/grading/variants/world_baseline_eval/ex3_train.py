# Style: student homework; idioms: the test accuracy measured once before training (logged, not recorded), statistics.fmean over the batch losses, torch.softmax before argmax in evaluate, net.train(mode=True) / net.train(mode=False).
import statistics
import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    net.train(mode=False)
    right = 0
    n = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            probs = torch.softmax(net(x), dim=1)
            right += (probs.argmax(dim=1) == y).sum().item()
            n += len(y)
    return right * 100 / n


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    net = net.to(device)
    print(f"accuracy before training: {evaluate(net, test_loader, device):.2f}%")
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    out = []
    for epoch in range(1, epochs + 1):
        net.train(mode=True)
        batch_losses = []
        t = time.perf_counter()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(net(x), y)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter() - t
        acc = evaluate(net, test_loader, device)
        print(f"epoch {epoch}: {statistics.fmean(batch_losses):.4f} {acc:.2f}% {t:.2f}s")
        out.append(EpochRecord(epoch, statistics.fmean(batch_losses), acc, t))
    return out
