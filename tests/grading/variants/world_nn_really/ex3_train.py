# Style: PyTorch tutorial "What is torch.nn really?"; idioms: a hand-written nll (-input[range(n), target].mean()), loss_batch(model, loss_func, xb, yb, opt) returning (loss.item(), len(xb)), fit(), accuracy() as (preds == yb).float().mean() weighted by batch sizes, sum(losses) / len(losses).
import time

import numpy as np
import torch
from torch import optim

from lenet_course.runtime import EpochRecord


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


loss_func = nll


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def evaluate(model, valid_dl, device="cpu"):
    model.eval()
    with torch.no_grad():
        accs, nums = zip(  # noqa: B905
            *[
                (accuracy(model(xb.to(device)), yb.to(device)).item(), len(xb))
                for xb, yb in valid_dl
            ]
        )
    return np.sum(np.multiply(accs, nums)) / np.sum(nums) * 100


def fit(epochs, model, loss_func, opt, train_dl, valid_dl, device):
    history = []
    for epoch in range(epochs):
        model.train()
        start = time.perf_counter()
        losses = []
        for xb, yb in train_dl:
            loss, _ = loss_batch(model, loss_func, xb.to(device), yb.to(device), opt)
            losses.append(loss)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start

        val_acc = evaluate(model, valid_dl, device)
        print(epoch, sum(losses) / len(losses), val_acc)
        history.append(EpochRecord(epoch + 1, sum(losses) / len(losses), float(val_acc), seconds))
    return history


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    model = net.to(device)
    opt = optim.Adam(model.parameters(), lr=lr)
    return fit(epochs, model, loss_func, opt, train_loader, test_loader, device)
