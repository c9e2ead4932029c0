# One image per service: docker build --build-arg SERVICE=stt -t tars-stt .
# The build stage installs exactly the service's extras (models are Python packages, so
# they end up inside the image); the runtime stage adds the service's system libraries and
# runs as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.9.5 AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE=router
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# The extras each service needs (pyproject.toml [project.optional-dependencies]); $extras
# is split into options on purpose.
# hadolint ignore=SC2086
RUN case "$SERVICE" in \
      stt) extras="--extra stt --extra stt-base" ;; \
      llm) extras="--extra llm --extra mcp" ;; \
      mic|wake|tts|memory|mcp|camera|ui-web|ui) extras="--extra $SERVICE" ;; \
      router|movement) extras="" ;; \
      *) echo "unknown SERVICE $SERVICE" >&2; exit 1 ;; \
    esac \
    && uv sync --frozen --no-dev --no-editable $extras

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=router
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# System libraries per service: PortAudio for the sound card, OpenMP for the inference
# runtimes, GLib for OpenCV. $packages is split into names on purpose.
# hadolint ignore=SC2086
RUN case "$SERVICE" in \
      mic|tts) packages="libportaudio2" ;; \
      stt|wake|llm|memory) packages="libgomp1" ;; \
      camera) packages="libglib2.0-0" ;; \
      *) packages="" ;; \
    esac \
    && if [ -n "$packages" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends $packages \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 tars \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/tars tars \
    && usermod -a -G audio,video tars \
    && mkdir -p /data \
    && chown tars:tars /data
COPY --from=build --chown=tars:tars /app /app
ENV PATH=/app/.venv/bin:$PATH \
    TARS_DATA_DIR=/data \
    TARS_SERVICE=$SERVICE \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/tars
VOLUME ["/data"]
CMD ["sh", "-c", "exec tars run \"$TARS_SERVICE\""]
