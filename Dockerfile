# syntax=docker/dockerfile:1
# catalog-sync image: one image for every process (webhook, worker, beat, migrate).
# The process is chosen by the command; deploy/commands.json is the single source of them.

# ---------------------------------------------------------------------------------------------
# builder: resolve exactly what uv.lock pins into /app/.venv (runtime deps only, no dev extra).
# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install "uv>=0.5,<1"

WORKDIR /app

# Dependencies first (cached while only the source changes).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself, installed non-editable so the venv is self-contained.
COPY README.md ./
COPY settings.py ./
COPY models ./models
COPY webhook ./webhook
COPY worker ./worker
# Package data (pyproject.toml maps these folders into models/ and worker/ in the install).
COPY migrations ./migrations
COPY deploy/__init__.py deploy/commands.json ./deploy/
RUN uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------------------------
# runtime: the venv and the source only; no compiler, no uv, no pip cache.
# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PATH="/app/.venv/bin:${PATH}" \
    VIRTUAL_ENV=/app/.venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 catalog \
    && useradd --system --uid 10001 --gid catalog --home-dir /app --shell /usr/sbin/nologin catalog

WORKDIR /app

COPY --from=builder --chown=root:root /app/.venv /app/.venv
COPY --chown=root:root pyproject.toml alembic.ini settings.py ./
COPY --chown=root:root models ./models
COPY --chown=root:root webhook ./webhook
COPY --chown=root:root worker ./worker
COPY --chown=root:root migrations ./migrations

# The code is read-only to the service user; it writes only to /tmp (beat schedule) and to the
# tmpfs that docker-compose mounts for PROMETHEUS_MULTIPROC_DIR.
USER catalog:catalog

EXPOSE 8000

# Same argv as deploy/commands.json "webhook" (tests/unit/test_deploy.py checks it).
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "webhook.gunicorn_worker.DeadlineThreadWorker", "--threads", "8", "--worker-connections", "8", "--keep-alive", "0", "--timeout", "30", "--no-control-socket", "webhook:create_app()"]
