# Style: kuangliu/pytorch-cifar main.py + PyTorch transfer-learning tutorial; idioms: torch.save({'net': net.state_dict(), 'acc': acc, 'epoch': epoch}, './checkpoint/ckpt.pth') on a new best, copy.deepcopy(net) kept as the best model, time.time().
import copy
import os
import time

import torch
import torch.nn as nn
import torch.optim as optim

from lenet_course.runtime import EpochRecord

best_acc = 0  # best test accuracy


def evaluate(net, testloader, device="cpu"):
    net.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for batch_idx, (inputs, targets) in enumerate(testloader):  # noqa: B007
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
    return 100.0 * correct / total


def train(net, trainloader, testloader, *, epochs=10, lr=1e-3, device="cpu"):
    global best_acc
    best_acc = 0
    net = net.to(device)
    criterion = nn.NLLLoss()
    optimizer = optim.Adam(net.parameters(), lr=lr)
    best_model = copy.deepcopy(net)
    records = []
    for epoch in range(epochs):
        print("\nEpoch: %d" % epoch)  # noqa: UP031
        since = time.time()
        net.train()
        train_loss = 0
        for batch_idx, (inputs, targets) in enumerate(trainloader):  # noqa: B007
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        if device != "cpu" and torch.cuda.is_available():
            torch.cuda.synchronize()
        time_elapsed = time.time() - since
        acc = evaluate(net, testloader, device)
        # Save checkpoint.
        if acc > best_acc:
            print("Saving..")
            state = {
                "net": net.state_dict(),
                "acc": acc,
                "epoch": epoch,
            }
            if not os.path.isdir("checkpoint"):
                os.mkdir("checkpoint")
            torch.save(state, "./checkpoint/ckpt.pth")
            best_acc = acc
            best_model = copy.deepcopy(net)
        records.append(EpochRecord(epoch + 1, train_loss / (batch_idx + 1), acc, time_elapsed))
    print(f"Best test acc: {best_acc:.2f}% ({type(best_model).__name__} kept)")
    return records
