# Style: student homework; idioms: @torch.no_grad() as a decorator on evaluate, torch.manual_seed for reproducibility at the start of train, F.cross_entropy on the log-probabilities, import torch.optim as optim with a positional lr, labels.size(0) totals.
import time

import torch
import torch.nn.functional as F
import torch.optim as optim

from lenet_course.runtime import EpochRecord


@torch.no_grad()
def evaluate(model, loader, device="cpu"):
    model.eval()
    correct = 0
    total = 0
    for images, labels in loader:
        images = images.to(device)
        labels = labels.to(device)
        outputs = model(images)
        predicted = torch.argmax(outputs, dim=1)
        correct += (predicted == labels).sum().item()
        total += labels.size(0)
    return 100.0 * correct / total


def train(model, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    torch.manual_seed(42)  # reproducibility
    model.to(device)
    optimizer = optim.Adam(model.parameters(), lr)
    results = []
    for epoch in range(epochs):
        model.train()
        epoch_loss = 0
        num_batches = 0
        start_time = time.perf_counter()
        for images, labels in train_loader:
            images = images.to(device)
            labels = labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = F.cross_entropy(outputs, labels)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
            num_batches += 1
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        end_time = time.perf_counter()
        test_acc = evaluate(model, test_loader, device)
        avg_loss = epoch_loss / num_batches
        print(
            "Epoch [{}/{}], Loss: {:.4f}, Test Accuracy: {:.2f}%".format(  # noqa: UP032
                epoch + 1, epochs, avg_loss, test_acc
            )
        )
        results.append(EpochRecord(epoch + 1, avg_loss, test_acc, end_time - start_time))
    return results
