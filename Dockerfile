# Image for every role of hybrid-scheduler (see docker-compose.yml). The embedded
# services used by `make dev` are not needed here: compose runs the real ones. devstack
# comes along for the embedded ClickHouse engine's read-only SQL endpoint and the
# `sql` command's read-only check; the roles on CLICKHOUSE_URL do not import it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scheduler ./scheduler
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY devstack ./devstack
COPY worker.py ./
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin scheduler
ENV SCHEDULES_LOG_LEVEL=INFO
# 8000: the HTTP API (serve --role api); 9464: every role's Prometheus /metrics
# (SCHEDULES_METRICS_PORT).
EXPOSE 8000 9464
USER scheduler
ENTRYPOINT ["hybrid-scheduler"]
CMD ["serve", "--role", "all"]
