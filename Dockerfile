# Image for every role of hybrid-scheduler (see docker-compose.yml). The embedded
# services used by `make dev` are not needed here: compose runs the real ones.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scheduler ./scheduler
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY worker.py ./
RUN pip install --no-cache-dir .
ENV SCHEDULES_LOG_LEVEL=INFO
ENTRYPOINT ["hybrid-scheduler"]
CMD ["serve", "--role", "all"]
