# messaging: gunicorn serving the Flask app on port 8080 as the unprivileged user "app".
# Build: docker build -t messaging .    Run: see README, "Operations"; compose.yaml puts the
# nginx front of deploy/nginx/ before it.
FROM python:3.11-slim

# The package version (messaging/version.py; tests/test_dockerfile.py keeps the two equal).
ARG VERSION=1.1.0
LABEL org.opencontainers.image.title="messaging" \
      org.opencontainers.image.description="A Flask service that stores SMS-style messages for accounts and finds them again." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# Logs go to the console only (LOG_FILE empty), where container platforms collect them; for
# a rotated file as well, set LOG_FILE=/app/logs/app.log and mount a volume on /app/logs.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080 \
    LOG_FILE=

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them.
# Every pinned package ships a wheel (PyMySQL is pure Python): no compiler needed.
COPY requirements.txt .
RUN pip install --no-cache-dir --only-binary=:all: -r requirements.txt

COPY wsgi.py gunicorn.conf.py docker-entrypoint.sh ./
COPY messaging ./messaging
COPY migrations ./migrations

# The user "app", by number: a runtime that checks for non-root cannot resolve names.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/logs /app/instance \
    && chown app:app /app/logs /app/instance
USER 10001:10001

EXPOSE 8080

# Slim images have no curl; the standard library can ask /health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/health', timeout=4)"]

# Exec form throughout: the entrypoint execs CMD, so gunicorn is PID 1 and gets
# SIGTERM for a graceful shutdown.
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
