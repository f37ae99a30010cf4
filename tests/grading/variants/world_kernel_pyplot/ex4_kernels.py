# Style: student notebooks using the pyplot state machine; idioms: copy.deepcopy(layer.weight.data), plt.figure + plt.subplot(2, 6, i + 1) + plt.imshow, plt.suptitle, return plt.gcf().
import copy

import matplotlib.pyplot as plt


def snapshot_kernels(net):
    conv1 = copy.deepcopy(net.conv1.weight.data).cpu()
    conv2 = copy.deepcopy(net.conv2.weight.data).cpu()
    return {"conv1": conv1, "conv2": conv2}


def kernel_change(before, after):
    change = {}
    for name in ["conv1", "conv2"]:
        change[name] = after[name] - before[name]
    return change


def plot_kernels(weights, title):
    plt.figure(figsize=(10, 4))
    for i in range(6):
        plt.subplot(2, 6, i + 1)
        plt.imshow(weights["conv1"][i, 0].numpy(), cmap="gray")
        plt.xticks([])
        plt.yticks([])
    for i in range(6):
        plt.subplot(2, 6, 6 + i + 1)
        plt.imshow(weights["conv2"][0, i].numpy(), cmap="gray")
        plt.xticks([])
        plt.yticks([])
    plt.suptitle(title)
    return plt.gcf()
