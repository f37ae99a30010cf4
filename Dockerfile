# lenet-course on a CUDA-enabled PyTorch runtime. MNIST is baked in at build time, so
# grading and validation need no network: docker run --gpus all --network none ...
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    LENET_DATA=/opt/mnist

RUN useradd --create-home --uid 1000 kit
WORKDIR /opt/lenet-course
COPY --chown=kit:kit . .
RUN pip install --no-cache-dir -e '.[dev]' \
    && lenet-course data --data /opt/mnist \
    && chown -R kit:kit /opt/mnist

USER 1000:1000
CMD ["nox", "-s", "validate"]
