"""gunicorn settings for Hindsight's webhook endpoint.

    gunicorn -c deploy/gunicorn.conf.py 'hindsight.wsgi:create_app()'

Settings come from HINDSIGHT_* variables (see deploy/hindsight.env.example) when each worker
creates the app. Tuned for a small machine: one process per core, a few threads each (requests
spend part of their time in SQLite with the GIL released), keep-alive for Jira's connections.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 30
# Jira Cloud waits about 20 s for an answer; a request here takes milliseconds.
timeout = 30
graceful_timeout = 20
# Requests are answered from the delivery log; nothing is lost when a worker is recycled.
max_requests = 100_000
max_requests_jitter = 10_000
# One access line per request would double the log; the app logs one line per delivery.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
# Both logs redact ?token=, a feedback link's t=, credential headers and every configured secret.
logger_class = "hindsight.gunicorn_logger.RedactingLogger"
loglevel = "warning"
# Jira's headers are small; refuse oversized request lines early.
limit_request_line = 8190
limit_request_fields = 100
