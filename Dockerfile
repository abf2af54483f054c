# syntax=docker/dockerfile:1
# Conveyor's images. The default target, `server`, runs every role: the API (its
# default command), the migrations (`db upgrade`) and workers (`worker ...`). The
# `worker` target is the plain install only (SDK, worker runtime, built-in
# handlers): no FastAPI, SQLAlchemy or database drivers.
#   docker build -t conveyor .
#   docker build --target worker -t conveyor-worker .
#   docker run -p 8080:8080 -e CONVEYOR_JWT_SECRET=... conveyor

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG CONVEYOR_UID=10001

# Build stages: the package and its dependencies into a virtualenv; the build
# tools stay behind in these stages.
FROM ${PYTHON_IMAGE} AS build-worker
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/conveyor
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/conveyor/bin/pip install .

FROM build-worker AS build-server
RUN /opt/conveyor/bin/pip install ".[server]"

# What both images share: a slim Python and an unprivileged user.
FROM ${PYTHON_IMAGE} AS base
ARG CONVEYOR_UID
RUN groupadd --system --gid "${CONVEYOR_UID}" conveyor \
 && useradd --system --uid "${CONVEYOR_UID}" --gid conveyor \
      --home-dir /var/lib/conveyor --create-home --shell /usr/sbin/nologin conveyor
ENV PATH=/opt/conveyor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONVEYOR_DATA_DIR=/var/lib/conveyor
WORKDIR /var/lib/conveyor
ENTRYPOINT ["conveyor"]

FROM base AS worker
ARG CONVEYOR_UID
COPY --from=build-worker /opt/conveyor /opt/conveyor
USER ${CONVEYOR_UID}:${CONVEYOR_UID}
CMD ["worker", "--builtin"]

FROM base AS server
ARG CONVEYOR_UID
COPY --from=build-server /opt/conveyor /opt/conveyor
ENV CONVEYOR_LOG_JSON=true
# Artifacts (and the embedded JWT secret, when none is configured) live here:
# several API replicas must share it (docs/deploy.md).
VOLUME ["/var/lib/conveyor"]
USER ${CONVEYOR_UID}:${CONVEYOR_UID}
EXPOSE 8080
# Ready means the database answers (GET /readyz, 503 otherwise). The slim image
# has no curl: Python's urllib raises on a non-2xx answer, so the check fails.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
