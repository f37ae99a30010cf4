# Style: PyTorch "Transfer Learning for Computer Vision" tutorial; idioms: running_loss += loss.item() * inputs.size(0) / len(dataset) (a per-sample mean), running_corrects as a tensor, torch.max(outputs, 1), since = time.time().
import time

import torch
import torch.nn as nn
import torch.optim as optim

from lenet_course.runtime import EpochRecord


def evaluate(model, dataloader, device="cpu"):
    model.eval()
    running_corrects = 0
    with torch.no_grad():
        for inputs, labels in dataloader:
            inputs = inputs.to(device)
            labels = labels.to(device)
            outputs = model(inputs)
            _, preds = torch.max(outputs, 1)
            running_corrects += torch.sum(preds == labels.data)
    epoch_acc = running_corrects.double() / len(dataloader.dataset)
    return epoch_acc.item() * 100


def train(model, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    model = model.to(device)
    criterion = nn.NLLLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    records = []
    for epoch in range(epochs):
        print(f"Epoch {epoch}/{epochs - 1}")
        print("-" * 10)
        since = time.time()
        model.train()  # Set model to training mode
        running_loss = 0.0
        # Iterate over data.
        for inputs, labels in train_loader:
            inputs = inputs.to(device)
            labels = labels.to(device)
            # zero the parameter gradients
            optimizer.zero_grad()
            # forward
            with torch.set_grad_enabled(True):
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
            # statistics
            running_loss += loss.item() * inputs.size(0)
        epoch_loss = running_loss / len(train_loader.dataset)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        time_elapsed = time.time() - since
        epoch_acc = evaluate(model, test_loader, device)
        print(f"train Loss: {epoch_loss:.4f} test Acc: {epoch_acc:.4f}")
        records.append(EpochRecord(epoch + 1, epoch_loss, epoch_acc, time_elapsed))
    return records
