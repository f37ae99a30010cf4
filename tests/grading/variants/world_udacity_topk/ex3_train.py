# Style: Udacity "Intro to Deep Learning with PyTorch" notebooks; idioms: for-else loop with the validation in the else clause, ps = torch.exp(logps) and ps.topk(1, dim=1), equals = top_class == labels.view(*top_class.shape), torch.mean(equals.type(torch.FloatTensor)) weighted by the batch size.
import time

import torch
from torch import nn, optim

from lenet_course.runtime import EpochRecord


def evaluate(model, testloader, device="cpu"):
    model.eval()
    accuracy = 0
    seen = 0
    # Turn off gradients for validation, saves memory and computations
    with torch.no_grad():
        for images, labels in testloader:
            images, labels = images.to(device), labels.to(device)
            logps = model(images)
            ps = torch.exp(logps)
            top_p, top_class = ps.topk(1, dim=1)
            equals = top_class == labels.view(*top_class.shape)
            accuracy += torch.mean(equals.type(torch.FloatTensor)).item() * len(labels)
            seen += len(labels)
    return accuracy / seen * 100


def train(model, trainloader, testloader, *, epochs=10, lr=1e-3, device="cpu"):
    model.to(device)
    criterion = nn.NLLLoss()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    train_losses, test_accuracies, times = [], [], []
    for e in range(epochs):
        model.train()
        running_loss = 0
        start = time.time()
        for images, labels in trainloader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()

            log_ps = model(images)
            loss = criterion(log_ps, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
        else:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.time() - start)
            test_accuracy = evaluate(model, testloader, device)
            train_losses.append(running_loss / len(trainloader))
            test_accuracies.append(test_accuracy)

            print(
                f"Epoch: {e + 1}/{epochs}.. ",
                f"Training Loss: {running_loss / len(trainloader):.3f}.. ",
                f"Test Accuracy: {test_accuracy:.3f}",
            )
    return [
        EpochRecord(i + 1, train_losses[i], test_accuracies[i], times[i]) for i in range(epochs)
    ]
