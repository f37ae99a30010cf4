# Style: object-oriented GitHub repos (a Trainer class with fit/train_one_epoch/validate methods and a history dict); idioms: self.model / self.optimizer / self.criterion attributes, time.perf_counter_ns(), a module-level train() that wraps the class.
import time

import torch
from torch import nn

from lenet_course.runtime import EpochRecord


class Trainer:
    def __init__(self, model, train_loader, val_loader, lr=1e-3, device="cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.criterion = nn.NLLLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.history = {"train_loss": [], "val_acc": [], "time": []}

    def train_one_epoch(self):
        self.model.train()
        losses = []
        for inputs, targets in self.train_loader:
            inputs = inputs.to(self.device)
            targets = targets.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)

    @torch.no_grad()
    def validate(self, loader=None):
        loader = self.val_loader if loader is None else loader
        self.model.eval()
        correct, total = 0, 0
        for inputs, targets in loader:
            inputs = inputs.to(self.device)
            targets = targets.to(self.device)
            correct += self.model(inputs).argmax(dim=1).eq(targets).sum().item()
            total += targets.size(0)
        return 100.0 * correct / total

    def fit(self, epochs):
        for epoch in range(epochs):
            t0 = time.perf_counter_ns()
            train_loss = self.train_one_epoch()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            elapsed = (time.perf_counter_ns() - t0) / 1e9
            val_acc = self.validate()
            self.history["train_loss"].append(train_loss)
            self.history["val_acc"].append(val_acc)
            self.history["time"].append(elapsed)
            print(f"Epoch {epoch + 1:02d} | loss {train_loss:.4f} | acc {val_acc:.2f}%")
        return self.history


def evaluate(net, loader, device="cpu"):
    return Trainer(net, None, loader, device=device).validate()


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    trainer = Trainer(net, train_loader, test_loader, lr=lr, device=device)
    h = trainer.fit(epochs)
    return [
        EpochRecord(i + 1, loss, acc, sec)
        for i, (loss, acc, sec) in enumerate(
            zip(h["train_loss"], h["val_acc"], h["time"], strict=True)
        )
    ]
