# Style: the torch.nn.Sequential documentation example (an OrderedDict of named layers); idioms: LeNet as an nn.Sequential subclass, so net.conv1 ... net.fc3 are its named children, nn.Flatten between the blocks.
from collections import OrderedDict

from torch import nn


class LeNet(nn.Sequential):
    def __init__(self):
        super().__init__(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(1, 6, 5)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(6, 16, 5)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(2)),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(256, 120)),
                    ("relu3", nn.ReLU()),
                    ("fc2", nn.Linear(120, 84)),
                    ("relu4", nn.ReLU()),
                    ("fc3", nn.Linear(84, 10)),
                ]
            )
        )
