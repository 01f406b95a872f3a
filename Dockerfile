# syntax=docker/dockerfile:1
# The bot's image: `docker build -t mesh-upgrade-bot .`; deploy/ runs it.
# Two stages: the builder makes the wheel and a virtualenv with everything installed; the
# runtime copies only that virtualenv onto a slim Python. The wheel holds bot/ and handlers/
# only: neither the simulator (meshsim/, a separate distribution) nor test-only packages. It runs as a fixed non-root UID and
# writes nothing outside its volumes (/data for SQLite, /tmp as an emptyDir), so
# readOnlyRootFilesystem holds. No HEALTHCHECK: Kubernetes probes /healthz and /livez.
# CI cannot run `docker build`; tests/deploy/test_image.py runs the builder's steps instead,
# so keep them plain `pip` commands.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
# The bytecode is compiled here (pip's default), so the read-only runtime never writes any.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl

FROM python:3.11-slim
# matplotlib (the census chart) writes a font cache at import: point it at the /tmp emptyDir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp
RUN groupadd --system --gid 10001 meshbot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin meshbot \
 && mkdir /data && chown 10001:10001 /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["mesh-upgrade-bot"]
CMD ["run", "--config", "/etc/mesh-upgrade/clusters.yaml"]
