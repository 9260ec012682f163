"""Gunicorn settings for the API (``harmonia api``, ``make dev``, docker-compose).

Every open WebSocket or SSE stream holds a worker thread (gthread) or a greenlet (gevent) for its
whole life. The default is **gthread with 256 threads per process**, chosen by measurement
(``python -m bench.fanout``: 200 WebSocket clients watching one 100-task run on a 2-core machine,
2 API processes, Postgres):

- gthread, 256 threads: every client got every event; delivery p50 38 ms, p99 157 ms; API RSS
  200 MB idle, 268 MB with the clients connected.
- gevent: every client got every event, but p50 2,083 ms, p99 6,046 ms. Monkey-patched psycopg
  and redis calls serialise the process, and it needs patching that the Celery client and
  the tests never see.

An idle WebSocket (REST or GraphQL) costs two sleeping threads, the request's and
simple-websocket's reader, and an SSE stream one; only the request's counts against
``HARMONIA_API_THREADS``, so raise it (or add processes) for more concurrent streams.
``HARMONIA_API_WORKER_CLASS=gevent`` remains available.
"""

import multiprocessing
import os

from config.metrics import export as export_metrics_dir
from config.metrics import process_identity
from config.settings import Settings

bind = f"{os.environ.get('HARMONIA_HOST', '0.0.0.0')}:{os.environ.get('HARMONIA_PORT', '8002')}"
workers = int(os.environ.get("HARMONIA_API_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = os.environ.get("HARMONIA_API_WORKER_CLASS", "gthread")
threads = int(os.environ.get("HARMONIA_API_THREADS", "256"))
worker_connections = int(os.environ.get("HARMONIA_API_CONNECTIONS", "2000"))
timeout = 120
graceful_timeout = 30
accesslog = "-" if os.environ.get("HARMONIA_ACCESS_LOG", "") == "true" else None
# The path without its query string (``?api_key=`` must not reach a log) and the request id, so
# an access line can be matched with the error body a client reports.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss req=%({x-request-id}o)s'
errorlog = "-"

# Prometheus multiprocess mode (config/metrics.py): the workers count in the deployment's metrics
# directory, set here before they import the app (a bare ``gunicorn`` command included).
export_metrics_dir(Settings.from_env())


def post_worker_init(worker) -> None:
    """The app and everything it imported stay for the process's life: freeze them out of the
    garbage collector, so a full collection walks only what requests made. Measured on a
    1,000-task execute: full collections took 120-135 ms each (250,000 objects at start), and
    1-2 ms once frozen; they were the requests above 100 ms."""
    import gc

    gc.freeze()


def child_exit(server, worker) -> None:
    """A dead worker's live gauges (stream clients) leave the sums; its counters stay."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(process_identity(worker.pid))  # in the directory exported above
