# Style: student homework / d2l-style logging; idioms: an extra training-accuracy pass over the (shuffled) training loader after each epoch's training, logged, then the test accuracy.
import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            correct += (net(inputs).argmax(1) == labels).sum().item()
            total += labels.numel()
    return 100.0 * correct / total


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    records = []
    for epoch in range(1, epochs + 1):
        net.train()
        running, batches = 0.0, 0
        start = time.perf_counter()
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
            batches += 1
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        train_acc = evaluate(net, train_loader, device)  # accuracy on the training set
        test_acc = evaluate(net, test_loader, device)
        print(
            f"epoch {epoch}: loss {running / batches:.4f} train acc {train_acc:.2f}% test acc {test_acc:.2f}%"
        )
        records.append(EpochRecord(epoch, running / batches, test_acc, seconds))
    return records
