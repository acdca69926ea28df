# syntax=docker/dockerfile:1.7
# SARK with the gateway plugin: sark-core + sark-api + sark-gateway (features stay off until
# GATEWAY_ENABLED / A2A_ENABLED are set; policies are evaluated by an OPA server, SARK_OPA_URL).
#
#   docker build -f deploy/docker/gateway.Dockerfile -t sark-gateway .  (from the repository root)
#   docker run --read-only --tmpfs /tmp -v sark-data:/var/lib/sark -p 8000:8000 sark-gateway
#
# No secret is baked in: pass SARK_ADMIN_PASSWORD, SARK_JWT_SECRET, SARK_DATABASE_URL... at
# run time (see docs/configuration.md and docs/operations/deploy.md).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------- build: wheels + venv
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy PYTHON=/usr/local/bin/python3
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY packages/ packages/
COPY migrations/ migrations/
COPY opa/ opa/
COPY deploy/docker/build-venv.sh deploy/docker/build-venv.sh
RUN sh deploy/docker/build-venv.sh gateway /opt/sark /tmp/dist

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sark-gateway" \
      org.opencontainers.image.description="SARK: governance and authorization for MCP servers and tools" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sark \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sark --no-create-home \
      --shell /usr/sbin/nologin sark \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sark
COPY --from=build /opt/sark /opt/sark
COPY deploy/docker/healthcheck.py /opt/sark/healthcheck.py
# Everything SARK writes (SQLite database, audit spool, generated keys, multi-process
# metrics) lives under SARK_HOME, so the root file system can be mounted read-only.
ENV PATH=/opt/sark/bin:$PATH \
    SARK_HOME=/var/lib/sark \
    SARK_HOST=0.0.0.0 \
    SARK_PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/sark"]
WORKDIR /var/lib/sark
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/opt/sark/healthcheck.py"]
ENTRYPOINT ["sark"]
CMD ["serve"]
