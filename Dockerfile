# OMNI paper-trading daemon. Build: docker build -t omni .
# Run on the embedded sim venue:   docker run --rm -it omni
# Your own config (read-only volume):
#   docker run --rm -it -v "$PWD/config:/config:ro" omni --config /config/default.yaml
# Secrets come from the environment (--env-file .env), never from the image or the config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY omni ./omni
RUN pip install . && useradd --system --uid 10001 --home-dir /home/omni --create-home omni

COPY config/default.yaml /config/default.yaml
VOLUME ["/config"]

USER omni
WORKDIR /home/omni
# the journal and the kill-switch latch: keep them across container restarts
RUN mkdir -p /home/omni/omni-state
VOLUME ["/home/omni/omni-state"]
# Logs are JSON lines on stdout (no TTY): `docker logs -f <id> | jq`.
# Metrics and health on 127.0.0.1:9108 inside the container (Prometheus: /metrics; Docker: /health).
ENV OMNI_TELEMETRY__METRICS_PORT=9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/health', timeout=4)"
# SIGTERM (docker stop) stops entries, closes or keeps positions per engine.on_shutdown, and exits 0.
ENTRYPOINT ["omni", "run"]
CMD ["--config", "/config/default.yaml"]
