# Runbook Router image: multi-stage, slim, non-root (uid/gid 10001), ready for a read-only root
# filesystem (writes go to /tmp and, in SQLite mode, the data volume only). No image is
# published: build it, and push it where your cluster pulls from (the Helm chart's
# image.repository and image.tag):
#
#   make image                                   # docker or podman build -t runbook-router:0.1.0 .
#   make push IMAGE=registry.example.com/ops/runbook-router:0.1.0
#   docker run --rm -p 8080:8080 -v runbook-router-data:/data runbook-router:0.1.0
#
# The default command, `serve`, works on an empty volume: it creates and migrates the SQLite
# database (on PostgreSQL run `migrate` first, or `serve --migrate`).
#
# The configuration baked in is the Helm chart's copy (enrichment disabled: inside a container
# the repository's 127.0.0.1 URLs reach the container itself). The Helm chart mounts config/ and
# runbook_templates/ from ConfigMaps over these copies, so runbooks change without a new image.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# A regular (not editable) install with the PostgreSQL driver; every dependency ships wheels,
# so no compiler is needed. Byte-compile now: the runtime root filesystem is read-only.
RUN pip install ".[postgres]" \
    && python -m compileall -q /opt/venv

FROM python:${PYTHON_VERSION}-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RUNBOOK_ROUTER_HOST=0.0.0.0 \
    RUNBOOK_ROUTER_PORT=8080 \
    RUNBOOK_ROUTER_LOG_FORMAT=json \
    RUNBOOK_ROUTER_CONFIG=/app/config/runbook-router.yaml \
    RUNBOOK_ROUTER_CATALOG_DIR=/app/runbook_templates \
    RUNBOOK_ROUTER_DATA_DIR=/data \
    RUNBOOK_ROUTER_DATABASE_URL=sqlite:////data/runbook-router.db
RUN groupadd --system --gid 10001 runbook-router \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin runbook-router \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
COPY helm/runbook-router/files/config/runbook-router.yaml ./config/runbook-router.yaml
COPY runbook_templates ./runbook_templates
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RUNBOOK_ROUTER_PORT', '8080'), timeout=2)"]
# `serve` by default; `migrate`, `check`, `tokens ...` as arguments.
ENTRYPOINT ["runbook-router"]
CMD ["serve"]
