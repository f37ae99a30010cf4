"""log-softmax written out by hand, stably."""

from .ex1_lenet import LeNet


class LeNetClassifier(LeNet):
    def forward(self, x):
        scores = super().forward(x)
        return scores - scores.logsumexp(dim=1, keepdim=True)
