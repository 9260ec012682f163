"""Gunicorn settings for the API (``harmonia api``, ``make dev``, docker-compose).

Every open WebSocket or SSE stream holds a worker thread (gthread) or greenlet (gevent) for its
whole life. ``HARMONIA_API_WORKER_CLASS`` picks the model; see README "Benchmarks" for the
fan-out figures behind the default.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HARMONIA_HOST', '0.0.0.0')}:{os.environ.get('HARMONIA_PORT', '8002')}"
workers = int(os.environ.get("HARMONIA_API_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = os.environ.get("HARMONIA_API_WORKER_CLASS", "gthread")
threads = int(os.environ.get("HARMONIA_API_THREADS", "256"))
worker_connections = int(os.environ.get("HARMONIA_API_CONNECTIONS", "2000"))
timeout = 120
graceful_timeout = 30
accesslog = "-" if os.environ.get("HARMONIA_ACCESS_LOG", "") == "true" else None
errorlog = "-"
