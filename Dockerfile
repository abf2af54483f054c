# syntax=docker/dockerfile:1
# Conveyor: one image for every role. The API (the default command), the
# migrations (`db upgrade`) and workers (`worker ...`) differ only in the command.
#   docker build -t conveyor .
#   docker run -p 8080:8080 -e CONVEYOR_JWT_SECRET=... conveyor

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# Build stage: the wheel and its dependencies into a virtualenv, with the build
# tools left behind in this stage.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/conveyor
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/conveyor/bin/pip install ".[server]"

# Runtime stage: the virtualenv on a slim Python, run as an unprivileged user.
FROM ${PYTHON_IMAGE} AS runtime
ARG CONVEYOR_UID=10001
RUN groupadd --system --gid "${CONVEYOR_UID}" conveyor \
 && useradd --system --uid "${CONVEYOR_UID}" --gid conveyor \
      --home-dir /var/lib/conveyor --create-home --shell /usr/sbin/nologin conveyor
COPY --from=build /opt/conveyor /opt/conveyor
ENV PATH=/opt/conveyor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONVEYOR_DATA_DIR=/var/lib/conveyor \
    CONVEYOR_LOG_JSON=true
WORKDIR /var/lib/conveyor
# Artifacts (and the embedded JWT secret, when none is configured) live here:
# several API replicas must share it (docs/deploy.md).
VOLUME ["/var/lib/conveyor"]
USER ${CONVEYOR_UID}:${CONVEYOR_UID}
EXPOSE 8080
# Ready means the database answers (GET /readyz, 503 otherwise). The slim image
# has no curl: Python's urllib raises on a non-2xx answer, so the check fails.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
ENTRYPOINT ["conveyor"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
