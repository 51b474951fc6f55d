# perpflow workers and CLI. One image; docker-compose.yml picks the process per service.
FROM python:3.11-slim

# Bytecode is compiled at build time (--compile-bytecode): a process starts without compiling its imports.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install "uv==0.13.8" && uv pip sync --system --compile-bytecode requirements.lock

COPY pyproject.toml README.md ./
COPY perpflow ./perpflow
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
# The state dir (market data's status file, `perpflow doctor`'s view of it) is a volume shared
# by the processes; a new named volume takes this directory's owner, so uid 10001 can write it.
RUN uv pip install --system --compile-bytecode --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/perpflow perpflow \
    && mkdir -p /var/lib/perpflow && chown perpflow /var/lib/perpflow
ENV PERPFLOW_STATE_DIR=/var/lib/perpflow
USER perpflow

# Every process's metrics endpoint (--metrics-port 9464 --metrics-host 0.0.0.0 in compose).
EXPOSE 9464
CMD ["python", "-m", "workers.orchestrator"]
