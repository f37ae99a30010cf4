# Style: PyTorch "Quickstart" / "Optimizing Model Parameters" tutorials; idioms: train_loop(dataloader, model, loss_fn, optimizer) and test_loop with size = len(dataloader.dataset), (pred.argmax(1) == y).type(torch.float).sum().item(), correct /= size, nn.NLLLoss(), batch progress prints.
import time

import torch
from torch import nn

from lenet_course.runtime import EpochRecord


def train_loop(dataloader, model, loss_fn, optimizer, device):
    size = len(dataloader.dataset)
    # Set the model to training mode - important for batch normalization and dropout layers
    model.train()
    total = 0.0
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        # Compute prediction and loss
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        total += loss.item()
        if batch % 100 == 0:
            loss, current = loss.item(), batch * dataloader.batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
    return total / len(dataloader)


def test_loop(dataloader, model, loss_fn, device):
    # Set the model to evaluation mode - important for batch normalization and dropout layers
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0

    # Evaluating the model with torch.no_grad() ensures that no gradients are computed during test mode
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()

    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return 100 * correct


def evaluate(net, loader, device="cpu"):
    return test_loop(loader, net, nn.NLLLoss(), device)


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    model = net.to(device)
    loss_fn = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    records = []
    for t in range(epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        start = time.perf_counter()
        train_loss = train_loop(train_loader, model, loss_fn, optimizer, device)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        accuracy = test_loop(test_loader, model, loss_fn, device)
        records.append(EpochRecord(t + 1, train_loss, accuracy, seconds))
    print("Done!")
    return records
