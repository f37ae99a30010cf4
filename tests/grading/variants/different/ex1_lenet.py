"""A correct LeNet written another way: layers kept in containers, exposed by name."""

import torch
from torch import nn


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.ModuleList([nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)])
        self.head = nn.ModuleDict(
            {"fc1": nn.Linear(256, 120), "fc2": nn.Linear(120, 84), "fc3": nn.Linear(84, 10)}
        )
        self.pool = nn.MaxPool2d(2)

    @property
    def conv1(self):
        return self.features[0]

    @property
    def conv2(self):
        return self.features[1]

    @property
    def fc1(self):
        return self.head["fc1"]

    @property
    def fc2(self):
        return self.head["fc2"]

    @property
    def fc3(self):
        return self.head["fc3"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.features:
            x = self.pool(torch.relu(conv(x)))
        x = x.reshape(x.shape[0], -1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)
