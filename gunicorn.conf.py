"""gunicorn settings: the one place the server is configured."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
# The application (and so any database pool) is made in each worker after the fork.
preload_app = False
