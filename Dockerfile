# perpflow workers and CLI. One image; the compose file picks the process per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install "uv==0.13.8" && uv pip sync --system requirements.lock

COPY pyproject.toml README.md ./
COPY perpflow ./perpflow
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN uv pip install --system --no-deps . \
    && useradd --system --uid 10001 perpflow
USER perpflow

CMD ["python", "-m", "workers.orchestrator"]
