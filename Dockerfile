# lenet-course on the CUDA build of the torch that CI tests, pinned by version. MNIST is baked in at build
# time, so grading and validation need no network:
#   docker build -t lenet-course .
#   docker run --rm --gpus all --network none lenet-course            # nox -s validate
# Grading jails student code only when the grader starts as root (see README, "Trust"):
#   docker run --rm --gpus all --network none --user 0 --cap-add SYS_ADMIN \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined ... lenet-course grade ...
# gives the bwrap level; plain `docker run --user 0 ... lenet-course grade ...` gives the
# landlock level on a kernel with Landlock (Linux 5.13+), else the reduced one.
# The torch that CI tests, installed from PyPI: its Linux wheels bring the CUDA 13.0 runtime
# and cuDNN as pip packages, so the host needs only an NVIDIA driver for CUDA 13 (580 or
# newer). tests/integration/test_dockerfile.py keeps TORCH_VERSION equal to CI's torch.
FROM python:3.11-slim-bookworm

ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    LENET_DATA=/opt/mnist

# bubblewrap and setpriv: the jail the grader puts student code in.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"

WORKDIR /opt/lenet-course
COPY . .
# The README's install step, then MNIST downloaded once into LENET_DATA and verified.
RUN pip install --no-cache-dir -e '.[dev]' \
    && lenet-course data --data /opt/mnist \
    && useradd --create-home --uid 1000 kit \
    && chown -R 1000:1000 /opt/lenet-course /opt/mnist

USER 1000:1000
CMD ["nox", "-s", "validate"]
