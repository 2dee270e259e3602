# One image for every Rainbow part; the command picks the part:
#   server:        rainbow server --config /etc/rainbow/rainbow.yaml   (the default)
#   hub operator:  python -m rainbow_operator.hub
#   cluster agent: python -m rainbow_operator.agent
#
#   docker build -t rainbow:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: install the project and its dependencies (all binary wheels) into a venv.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/rainbow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rainbow ./rainbow
COPY operator ./operator
RUN /opt/rainbow/bin/pip install --prefer-binary . \
 && /opt/rainbow/bin/pip uninstall -y pip \
 && find /opt/rainbow -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/rainbow/bin/python -c "import rainbow.server.app, rainbow_operator.hub.handlers, rainbow_operator.agent.agent"

# Runtime stage: the venv only; no compilers, no pip, no sources.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rainbow" \
      org.opencontainers.image.description="Rainbow multi-cluster batch scheduler: server, hub operator and cluster agent" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 rainbow \
 && useradd --system --uid 10001 --gid rainbow --home-dir /var/lib/rainbow --shell /usr/sbin/nologin rainbow \
 && mkdir -p /etc/rainbow /var/lib/rainbow \
 && chown rainbow:rainbow /var/lib/rainbow
COPY --from=build /opt/rainbow /opt/rainbow
ENV PATH=/opt/rainbow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/rainbow
USER 10001:10001
# gRPC, server metrics, hub metrics/health, agent metrics/health
EXPOSE 50051 9090 9101 8081 9102 8082
CMD ["rainbow", "server", "--config", "/etc/rainbow/rainbow.yaml"]
