"""``python -m bench``: run every shape on both sides at each worker concurrency, and N runs at
once (``bench/concurrent_runs.py``); time validate+compile; then run each shape once more with the
probe on (where a task's time goes, ``bench/breakdown.py``); load the API under gunicorn with
locust (``bench/api_load.py``); print the report.

Exit code 0 whenever the bench ran (a MISS is a finding, not an error); 1 on an error; 130 when
interrupted. The worker and any embedded Redis are stopped in every case.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import secrets
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SHAPE_KEYS = ("fan_out_200", "chain_50", "layered_1000")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--concurrencies",
        default="4,2",
        help="worker processes, one pass of the timings per value; the first is the one the "
        "other parts use (4,2)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="one value only: --concurrencies N"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per shape (3)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run (120)")
    parser.add_argument("--shapes", default=",".join(SHAPE_KEYS), help="comma-separated subset")
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json", help="JSON output")
    parser.add_argument(
        "--webhooks",
        type=int,
        default=50,
        help="webhooks subscribed to every event of a 200-task run (50; 0 skips it)",
    )
    parser.add_argument(
        "--fanout-clients",
        type=int,
        default=200,
        help="WebSocket clients for the fan-out measurement, REST then GraphQL (200; 0 skips it)",
    )
    parser.add_argument(
        "--ui-tasks",
        type=int,
        default=1000,
        help="steps of the run whose dashboard page is timed in headless Chromium (1000; 0 skips)",
    )
    parser.add_argument(
        "--concurrent-runs",
        type=int,
        default=20,
        help="runs of a 50-wide fan-out started at once, throughput against bare Celery, at "
        "each concurrency (20; 0 skips it)",
    )
    parser.add_argument(
        "--api-clients",
        type=int,
        default=50,
        help="locust users loading the API under gunicorn: POST execute and GET run, for 2 and "
        "1,000 tasks (50; 0 skips it)",
    )
    parser.add_argument(
        "--api-seconds", type=float, default=15.0, help="seconds per API scenario (15)"
    )
    parser.add_argument(
        "--api-wait",
        type=float,
        default=1.0,
        help="seconds a locust user waits between its requests, on average (1: about 50 "
        "requests/s from 50 users; 0: back to back, where the latency is the queue of a "
        "saturated server, N / throughput, rather than a request's own)",
    )
    parser.add_argument(
        "--probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the timings, run each shape once more with the probe on: where a task's "
        "time goes (on; --no-probe skips it)",
    )
    args = parser.parse_args(argv)
    args.shapes = [key for key in args.shapes.split(",") if key]
    unknown = sorted(set(args.shapes) - set(SHAPE_KEYS))
    if unknown:
        parser.error(f"unknown shapes {unknown}")
    try:
        args.concurrencies = (
            [args.concurrency]
            if args.concurrency is not None
            else [int(n) for n in args.concurrencies.split(",") if n.strip()]
        )
    except ValueError:
        parser.error("--concurrencies: comma-separated integers")
    if args.repeat < 1 or not args.concurrencies or min(args.concurrencies) < 1:
        parser.error("--repeat and every concurrency >= 1")
    args.concurrency = args.concurrencies[0]  # the probe's, the webhooks' and the compile's
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even when started in the background
    from bench.report import render, write_json
    from bench.services import pick_services

    try:
        services = pick_services(args.concurrency)
    except Exception as exc:
        log(f"bench: could not prepare the services: {exc}")
        return 1
    # The API built in this process, and anything reading settings, sees what the worker sees.
    os.environ.update(services.env)
    try:
        results = run(args, services)
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    except Exception as exc:
        log(f"bench: error: {exc.__class__.__name__}: {exc}")
        traceback.print_exc()
        return 1
    finally:
        # The Celery client's pending results sit in reference cycles: collect them while Redis
        # and the interpreter can still take their unsubscribe.
        gc.collect()
        services.close()
    print(render(results))
    write_json(results, args.json)
    log(f"results written to {args.json}")
    if args.fanout_clients:
        from bench import fanout

        try:
            print()
            # REST sockets, then GraphQL subscriptions, with the same number of clients.
            result = fanout.run(args.fanout_clients, threads=256, protocols=fanout.PROTOCOLS)
            print(fanout.report(result))
        except KeyboardInterrupt:
            log("bench: interrupted")
            return 130
        except Exception as exc:
            log(f"bench: fan-out error: {exc.__class__.__name__}: {exc}")
            return 1
    if args.ui_tasks:
        from bench import ui

        missing = ui.available()
        if missing:
            log(f"bench: dashboard part skipped: {missing}")
            return 0
        try:
            print()
            print(ui.report(ui.run(args.ui_tasks, 5, log=log)))
        except KeyboardInterrupt:
            log("bench: interrupted")
            return 130
        except Exception as exc:
            log(f"bench: dashboard error: {exc.__class__.__name__}: {exc}")
            return 1
    return 0


def run(args: argparse.Namespace, services) -> dict[str, Any]:
    import redis

    from app import create_app
    from bench.measure import Harness, measure_compile
    from bench.report import summarise
    from bench.runners import drop_waiters
    from bench.services import vacuum
    from bench.shapes import layered, standard_shapes
    from worker.celery_app import make_celery

    settings = services.settings
    leaked: dict[str, int] = {}
    with contextlib.ExitStack() as stack:  # on any exit: stop the worker, close every client
        client = make_celery(settings)
        stack.callback(client.close)
        key = "hmn_bench-" + secrets.token_urlsafe(16)  # the API answers only with a key
        app = create_app(settings.with_(admin_api_key=key))
        rt = app.extensions["harmonia"]
        stack.callback(rt.close)
        events = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        stack.callback(events.close)
        stack.callback(lambda: leaked.update(bare_client=drop_waiters(client)))
        stack.callback(lambda: leaked.update(harmonia_api=drop_waiters(rt.celery)))
        api = app.test_client()
        api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        harness = Harness(
            client,
            api,
            rt.redis,
            events,
            args.timeout,
            log,
            vacuum=lambda: vacuum(settings.resolved_database_url),
        )
        shapes, concurrent, compile_result, hooks = [], [], None, None
        for index, concurrency in enumerate(args.concurrencies):
            worker = start_worker(services, concurrency, harness)
            stack.callback(worker.stop)
            harness.worker_pid = worker.process.pid
            measured = measure_pass(args, services, harness, concurrency)
            shapes += measured["shapes"]
            concurrent += measured["concurrent_runs"]
            if index == 0:  # the parts measured once, on the first concurrency's worker
                compile_result = measure_compile(
                    layered(100, 100), client, settings.segment_size, log
                )
                if args.webhooks:
                    from bench import webhooks

                    webhooks.delete_bench_webhooks(rt)
                    vacuum(settings.resolved_database_url)
                    hooks = webhooks.run(args.webhooks, args.repeat, services, harness, rt, log)
            worker.stop()  # before the next pass, and before the parts with workers of their own
        if shapes:
            sizes = measure_sizes(args, services, harness)
            shapes = [{**timed, **sizes[timed["key"]]} for timed in shapes]
        where = None
        if args.probe:
            from bench import breakdown

            selected = [shape for shape in standard_shapes() if shape.key in args.shapes]
            where = breakdown.run(selected, services, harness, args.concurrency, RESULTS)
        load = None
        if args.api_clients:
            from bench import api_load

            load = api_load.run(
                services,
                client,
                args.api_clients,
                args.api_seconds,
                args.api_wait,
                RESULTS,
                log,
            )
    results = summarise(args, services, shapes, compile_result, leaked)
    results["concurrent_runs"] = concurrent
    results["webhooks"] = hooks
    results["breakdown"] = where
    results["api_load"] = load
    return results


def start_worker(services, concurrency: int, harness):
    from bench.services import Worker

    worker = Worker(services, concurrency, RESULTS / f"worker-c{concurrency}.log")
    try:
        worker.wait_ready(harness.client)
    except BaseException:
        worker.stop()
        raise
    log(f"worker ready: concurrency {concurrency}, {services.db_kind}")
    return worker


def measure_sizes(args: argparse.Namespace, services, harness) -> dict[str, dict]:
    """The largest task message of each shape, per side, on a worker of its own that records
    them: the record is a Redis write per message, kept out of every timed run."""
    from bench.measure import measure_sizes as sizes_of
    from bench.services import Worker
    from bench.shapes import standard_shapes

    worker = Worker(services, args.concurrency, RESULTS / "sizes-worker.log", record_sizes=True)
    try:
        worker.wait_ready(harness.client)
        return {
            shape.key: sizes_of(shape, harness)
            for shape in standard_shapes()
            if shape.key in args.shapes
        }
    finally:
        worker.stop()


def measure_pass(args: argparse.Namespace, services, harness, concurrency: int) -> dict:
    """The shapes, then the concurrent runs, on one worker of ``concurrency`` processes."""
    from bench import concurrent_runs
    from bench.measure import measure_shape
    from bench.services import vacuum
    from bench.shapes import standard_shapes

    database_url = services.settings.resolved_database_url
    shapes = []
    for shape in standard_shapes():
        if shape.key in args.shapes:
            vacuum(database_url)
            timed = measure_shape(shape, harness, args.repeat)
            shapes.append({**timed, "concurrency": concurrency})
    concurrent = []
    if args.concurrent_runs:
        vacuum(database_url)
        concurrent.append(
            concurrent_runs.measure(harness, args.concurrent_runs, args.repeat, concurrency)
        )
    return {"shapes": shapes, "concurrent_runs": concurrent}


if __name__ == "__main__":
    sys.exit(main())
