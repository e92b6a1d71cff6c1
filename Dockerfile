# One image for every Freshrec service (worker, trainer, shop, api): `freshrec <command>`.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir "uv>=0.5" \
 && useradd --create-home --uid 10001 freshrec

WORKDIR /app
# Dependencies first, from the lockfile only, so code changes do not re-download torch.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --no-dev
COPY contracts ./contracts
COPY freshrec ./freshrec
COPY producers ./producers
COPY streams ./streams
COPY models ./models
COPY serving ./serving
RUN uv pip install --python /opt/venv/bin/python --no-deps . \
 && mkdir -p /data && chown freshrec /data

USER freshrec
ENV FRESHREC_CACHE_DIR=/data
VOLUME ["/data"]
CMD ["freshrec", "--help"]
