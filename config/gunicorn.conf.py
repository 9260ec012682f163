"""Gunicorn settings for the API (docker-compose and production).

gthread keeps one thread per open WebSocket/SSE stream without monkey-patching, so the Celery
client, psycopg and redis-py behave as they do in tests. Tune threads for the number of live
streams a process must hold.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HARMONIA_HOST', '0.0.0.0')}:{os.environ.get('HARMONIA_PORT', '8002')}"
workers = int(os.environ.get("HARMONIA_API_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("HARMONIA_API_THREADS", "32"))
timeout = 120
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
