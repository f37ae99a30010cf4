# Style: the torch.nn.Sequential documentation example; idioms: the log-softmax as the tensor method .log_softmax(dim=1) on the Sequential's output.
from .ex1_lenet import LeNet


class LeNetClassifier(LeNet):
    def forward(self, input):
        return super().forward(input).log_softmax(dim=1)
