# Style: PyTorch performance-tuning guide / recent repos; idioms: optimizer.zero_grad(set_to_none=True), torch.inference_mode() in evaluate, non_blocking copies, torch.device(device), a tensor sum of correct predictions.
import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net: torch.nn.Module, loader, device="cpu") -> float:
    device = torch.device(device)
    net.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    with torch.inference_mode():
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            correct += (net(x).argmax(dim=-1) == y).sum()
            seen += y.numel()
    return 100.0 * correct.item() / seen


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    device = torch.device(device)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    records = []
    for epoch in range(1, epochs + 1):
        net.train()
        start = time.perf_counter()
        losses = []
        for x, y in train_loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = F.nll_loss(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        train_loss = torch.stack(losses).mean().item()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        records.append(EpochRecord(epoch, train_loss, evaluate(net, test_loader, device), seconds))
    return records
