# d2m web demo (app.py) as a Hugging Face Space (sdk: docker, app_port: 7860) or on any host:
#   docker build -t d2m . && docker run --rm -p 7860:7860 d2m    -> http://localhost:7860
# Offline by default: the groove backbone and MediaPipe's pose model ship inside the wheels.
# On a GPU, with MusicGen baked in (a Space passes its Variables as these build arguments):
#   docker build -t d2m-gpu --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#       --build-arg MODELS="facebook/musicgen-small" .
#   docker run --rm --gpus all -p 7860:7860 d2m-gpu
FROM python:3.11-slim-bookworm

# libgomp: OpenMP runtime some wheels load at import; libglib: OpenCV's threading helpers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# Spaces run the container as UID 1000: build and run as that user.
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/home/user/.cache/matplotlib \
    HF_HOME=/home/user/.cache/huggingface \
    GRADIO_ANALYTICS_ENABLED=False
WORKDIR /home/user/app

# Dependencies first (a cached layer), pinned and installed as scripts/setup.sh does. TORCH_INDEX
# picks torch==2.13.0's build: the default CPU one (2.13.0+cpu, ~0.2 GB) instead of PyPI's CUDA
# one (several GB). GPU hardware: --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
# (2.13.0+cu128; its wheels carry the CUDA libraries, so this slim base needs only the host's
# NVIDIA driver). The build log's "torch ..." line says which build was installed.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY --chown=user requirements.txt requirements-nodeps.txt ./
RUN pip install --user --extra-index-url "$TORCH_INDEX" -r requirements.txt \
    && pip install --user --no-deps -r requirements-nodeps.txt \
    && python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

COPY --chown=user . .
# MODELS: space-separated hub ids baked into the image's Hugging Face cache, only the files d2m
# reads (e.g. "facebook/musicgen-small"; "backbone:id" for an id whose name does not say its
# backbone). The app finds them in the cache; the default, none, keeps the image offline-only.
ARG MODELS=""
RUN if [ -n "$MODELS" ]; then python -m d2m_core.backbones.download $MODELS; fi
# Pay first-use costs at build time, not on the first visitor: librosa's numba kernels compile
# (~30 s on a fresh machine) into caches kept in the image, matplotlib builds its font cache.
RUN python -c "from d2m_core.app.pipeline import Pipeline; p = Pipeline(); p.warm_up(); p.close()"

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/')"
CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
