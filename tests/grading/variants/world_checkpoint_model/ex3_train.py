# Style: student homework / small GitHub repos; idioms: torch.save(model, 'checkpoint.pt') of the whole model each epoch, a running_loss list averaged per epoch, time.time().
import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(model, loader, device="cpu"):
    model.eval()
    correct, total = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            predicted = outputs.argmax(1)
            correct += (predicted == labels).sum().item()
            total += labels.shape[0]
    return 100.0 * correct / total


def train(model, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        batch_losses = []
        for images, labels in train_loader:
            images = images.to(device)
            labels = labels.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(images), labels)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t1 = time.time()
        test_acc = evaluate(model, test_loader, device)
        train_loss = sum(batch_losses) / len(batch_losses)
        print(f"epoch {epoch + 1}: loss {train_loss:.4f}, test acc {test_acc:.2f}%, {t1 - t0:.1f}s")
        torch.save(model, "checkpoint.pt")  # save the whole model so we can resume later
        history.append(EpochRecord(epoch + 1, train_loss, test_acc, t1 - t0))
    return history
