# Style: pytorch/examples imagenet/main.py; idioms: AverageMeter (losses.update(loss.item(), images.size(0)), a per-sample mean), accuracy(output, target, topk=(1,)) with output.topk and correct_k.mul_(100.0 / batch_size), top1.avg returned from validate(), batch_time meter with end = time.time().
import time

import torch
import torch.nn as nn

from lenet_course.runtime import EpochRecord


class AverageMeter:
    """Computes and stores the average and current value"""

    def __init__(self, name, fmt=":f"):
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __str__(self):
        fmtstr = "{name} {val" + self.fmt + "} ({avg" + self.fmt + "})"
        return fmtstr.format(**self.__dict__)


def accuracy(output, target, topk=(1,)):
    """Computes the accuracy over the k top predictions for the specified values of k"""
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)

        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))

        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res


def validate(val_loader, model, criterion, device):
    losses = AverageMeter("Loss", ":.4e")
    top1 = AverageMeter("Acc@1", ":6.2f")

    # switch to evaluate mode
    model.eval()

    with torch.no_grad():
        for images, target in val_loader:
            images = images.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)

            # compute output
            output = model(images)
            loss = criterion(output, target)

            # measure accuracy and record loss
            (acc1,) = accuracy(output, target, topk=(1,))
            losses.update(loss.item(), images.size(0))
            top1.update(acc1[0].item(), images.size(0))

    print(f" * Acc@1 {top1.avg:.3f}")
    return top1.avg


def evaluate(net, loader, device="cpu"):
    return validate(loader, net, nn.NLLLoss(), device)


def train_one_epoch(train_loader, model, criterion, optimizer, epoch, device):
    batch_time = AverageMeter("Time", ":6.3f")
    losses = AverageMeter("Loss", ":.4e")

    # switch to train mode
    model.train()

    end = time.time()
    for i, (images, target) in enumerate(train_loader):
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)

        # compute output
        output = model(images)
        loss = criterion(output, target)

        # measure accuracy and record loss
        losses.update(loss.item(), images.size(0))

        # compute gradient and do SGD step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        # measure elapsed time
        batch_time.update(time.time() - end)
        end = time.time()

        if i % 100 == 0:
            print(f"Epoch: [{epoch}][{i}/{len(train_loader)}]\t{batch_time}\t{losses}")
    return losses.avg


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    device = torch.device(device)
    model = net.to(device)
    criterion = nn.NLLLoss().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    records = []
    for epoch in range(epochs):
        start = time.time()
        loss = train_one_epoch(train_loader, model, criterion, optimizer, epoch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.time() - start
        acc1 = validate(test_loader, model, criterion, device)
        records.append(EpochRecord(epoch + 1, loss, acc1, seconds))
    return records
