# Style: PyTorch tutorial "Training a Classifier" (CIFAR-10); idioms: nn.CrossEntropyLoss() on the net's log-probabilities, enumerate(trainloader, 0), torch.max(outputs.data, 1), labels.size(0) totals, state_dict saved at the end.
import time

import torch
import torch.nn as nn
import torch.optim as optim

from lenet_course.runtime import EpochRecord

PATH = "./mnist_net.pth"


def evaluate(net, loader, device="cpu"):
    correct = 0
    total = 0
    net.eval()
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in loader:
            images, labels = data
            images, labels = images.to(device), labels.to(device)
            # calculate outputs by running images through the network
            outputs = net(images)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return 100 * correct / total


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    net.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(net.parameters(), lr=lr)
    records = []
    for epoch in range(epochs):  # loop over the dataset multiple times
        net.train()
        running_loss = 0.0
        epoch_loss = 0.0
        start = time.perf_counter()
        for i, data in enumerate(train_loader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data
            inputs, labels = inputs.to(device), labels.to(device)

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            epoch_loss += loss.item()
            if i % 200 == 199:  # print every 200 mini-batches
                print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 200:.3f}")
                running_loss = 0.0
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        acc = evaluate(net, test_loader, device)
        print(f"Accuracy of the network on the test images: {acc} %")
        records.append(EpochRecord(epoch + 1, epoch_loss / len(train_loader), acc, seconds))
    print("Finished Training")
    torch.save(net.state_dict(), PATH)
    return records
