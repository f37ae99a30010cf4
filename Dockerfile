# syntax=docker/dockerfile:1
# lenet-course on the CUDA build of the torch that CI tests, pinned by version. MNIST is baked in at
# build time, so grading and validation need no network. `nox -s image` builds it (docker, else
# podman) and `nox -s image_test` runs each line below in it (README, "Instructors: GPU
# validation and Docker", has the measured table of lines, users and jail levels):
#   docker build -t lenet-course .
#   docker run --rm --gpus all --network none --user "$(id -u):$(id -g)" \
#     -v "$PWD/validation:/opt/lenet-course/validation" lenet-course      # nox -s validate
# Grading jails student code only when the grader starts as root (see README, "Trust"):
#   docker run --rm --gpus all --network none --user 0 --cap-add SYS_ADMIN --cap-add NET_ADMIN \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined ... lenet-course grade ...
# gives the bwrap level (bubblewrap needs NET_ADMIN for the loopback of its network namespace);
# plain `docker run --user 0 ... lenet-course grade ...` gives the landlock level on a kernel
# with Landlock (Linux 5.13+), else the reduced one.
#
# Offline builds (a build server without internet, a local mirror, a proxy with its own CA):
#   --build-arg BASE_IMAGE=...      a local base with Python 3.11 and pip on PATH
#   --build-context mnist=DIR       MNIST from DIR/MNIST/raw instead of a download (md5-verified
#                                   either way)
#   --secret id=pip.conf,src=FILE   a pip configuration for the pip steps only, with
#   --build-context pip-host=DIR    the local wheel folders it names, under /pip-host
#   --secret id=ca.crt,src=FILE     a CA bundle for pip and apt in those steps only
# Secrets and bind mounts exist only while their RUN step runs: none of them is in a layer.
# The torch that CI tests, installed from PyPI: its Linux wheels bring the CUDA 13.0 runtime
# and cuDNN as pip packages, so the host needs only an NVIDIA driver for CUDA 13 (580 or
# newer). tests/integration/test_dockerfile.py keeps TORCH_VERSION equal to CI's torch.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# Empty unless the build names a folder for them (--build-context NAME=DIR).
FROM scratch AS mnist
FROM scratch AS pip-host

FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    LENET_DATA=/opt/mnist

# bubblewrap and setpriv: the jail the grader puts student code in (skipped where the base
# has them already, as the offline stand-in does).
# hadolint ignore=DL3008
RUN --mount=type=secret,id=ca.crt \
    if ! dpkg -s bubblewrap util-linux >/dev/null 2>&1; then \
        if [ -s /run/secrets/ca.crt ]; then \
            echo 'Acquire::https::CAInfo "/run/secrets/ca.crt";' >/etc/apt/apt.conf.d/99host-ca; \
        fi \
        && apt-get update \
        && apt-get install -y --no-install-recommends bubblewrap util-linux \
        && rm -rf /var/lib/apt/lists/* /etc/apt/apt.conf.d/99host-ca; \
    fi

RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt \
    --mount=type=bind,from=pip-host,target=/pip-host \
    PIP_CONFIG_FILE="$( [ -s /run/secrets/pip.conf ] && echo /run/secrets/pip.conf || echo /dev/null )" \
    PIP_CERT="$( [ -s /run/secrets/ca.crt ] && echo /run/secrets/ca.crt )" \
    pip install --no-cache-dir "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"

WORKDIR /opt/lenet-course
COPY . .
# The README's install step, then MNIST (from the mnist context, else downloaded) put into
# LENET_DATA and verified. /opt/lenet-course belongs to the image's user; the folders that
# runs write (validation, runs, grades) are open to any uid, so that a run with
# --user "$(id -u):$(id -g)" and a bind mount can write its output.
RUN --mount=type=secret,id=pip.conf --mount=type=secret,id=ca.crt \
    --mount=type=bind,from=pip-host,target=/pip-host \
    --mount=type=bind,from=mnist,target=/mnt/mnist \
    PIP_CONFIG_FILE="$( [ -s /run/secrets/pip.conf ] && echo /run/secrets/pip.conf || echo /dev/null )" \
    PIP_CERT="$( [ -s /run/secrets/ca.crt ] && echo /run/secrets/ca.crt )" \
    pip install --no-cache-dir -e '.[dev]' \
    && if [ -d /mnt/mnist/MNIST/raw ]; then mkdir -p /opt/mnist && cp -r /mnt/mnist/MNIST /opt/mnist/; fi \
    && lenet-course data --data /opt/mnist \
    && useradd --create-home --uid 1000 kit \
    && mkdir -p validation runs grades \
    && chown -R 1000:1000 /opt/lenet-course /opt/mnist \
    && chmod 1777 validation runs grades

USER 1000:1000
CMD ["nox", "-s", "validate"]
