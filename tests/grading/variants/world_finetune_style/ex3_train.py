# Style: fine-tuning scripts (timm/torchvision reference-like); idioms: Adam over filter(lambda p: p.requires_grad, model.parameters()) in a param-group list, torch.backends.cudnn.benchmark, evaluate under torch.set_grad_enabled(False) that restores the model's previous mode, data[0].to(device) / data[1].to(device).
import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(model, loader, device="cpu"):
    was_training = model.training
    model.eval()
    correct = 0
    count = 0
    with torch.set_grad_enabled(False):
        for data in loader:
            inputs, labels = data[0].to(device), data[1].to(device)
            outputs = model(inputs)
            correct += torch.eq(outputs.argmax(dim=1), labels).float().sum().item()
            count += labels.shape[0]
    model.train(was_training)
    return correct / count * 100.0


def train(model, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    torch.backends.cudnn.benchmark = True
    model.to(device)
    params = [{"params": filter(lambda p: p.requires_grad, model.parameters())}]
    optimizer = torch.optim.Adam(params, lr=lr)
    records = []
    for epoch in range(epochs):
        model.train()
        loss_sum = 0.0
        steps = 0
        begin = time.monotonic()
        for data in train_loader:
            inputs, labels = data[0].to(device), data[1].to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(inputs), labels, reduction="mean")
            loss.backward()
            optimizer.step()
            loss_sum += float(loss)
            steps += 1
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.monotonic() - begin
        records.append(
            EpochRecord(epoch + 1, loss_sum / steps, evaluate(model, test_loader, device), seconds)
        )
    return records
