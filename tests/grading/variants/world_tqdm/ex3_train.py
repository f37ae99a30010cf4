# Style: small GitHub training scripts with tqdm; idioms: for inputs, labels in tqdm(train_loader, leave=False) with set_postfix, a tqdm bar over the test loader too, zero_grad(set_to_none=True).
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    net.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, labels in tqdm(loader, desc="eval", leave=False):
            inputs, labels = inputs.to(device), labels.to(device)
            correct += (net(inputs).argmax(1) == labels).sum().item()
            total += len(labels)
    return 100 * correct / total


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    records = []
    for epoch in range(1, epochs + 1):
        net.train()
        total_loss, n_batches = 0.0, 0
        start = time.perf_counter()
        pbar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False)
        for inputs, labels in pbar:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = F.nll_loss(net(inputs), labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            n_batches += 1
            pbar.set_postfix(loss=f"{loss.item():.4f}")
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        acc = evaluate(net, test_loader, device)
        tqdm.write(f"epoch {epoch}: loss={total_loss / n_batches:.4f} acc={acc:.2f}%")
        records.append(EpochRecord(epoch, total_loss / n_batches, acc, elapsed))
    return records
