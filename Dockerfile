# The coldtrail image: one image, every service (`coldtrail ingest`, `coldtrail db migrate`,
# `coldtrail gateway`, ...); docker-compose.yml picks the command. See docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs (not .venv, tests or local state).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY coldtrail/ coldtrail/
COPY firmware_bridge/ firmware_bridge/
COPY gateway/ gateway/
COPY ingest/ ingest/
COPY alerts/ alerts/
COPY api/ api/
COPY simulators/ simulators/
COPY carriers/ carriers/
# The services' image: the base package (what a gateway needs) and the `server` extra (ingest,
# API, alerts, carriers; build argument EXTRAS).
ARG EXTRAS=server
RUN pip install ".[${EXTRAS}]" \
    && rm -rf /build

# Run as an unprivileged user.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/coldtrail coldtrail
USER coldtrail
WORKDIR /home/coldtrail

ENTRYPOINT ["coldtrail"]
CMD ["--help"]
