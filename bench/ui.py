"""Dashboard benchmark: how long the run page of a large run takes to show its graph in headless
Chromium. ``python -m bench.ui [--tasks 1000] [--repeat 5]``; ``make bench`` runs it last.

Method. The API runs under gunicorn as in production (no worker: the run waits in its queue, so
the page is measured on a run of ``--tasks`` PENDING steps, and nothing else competes for the two
cores). Two workflows of that many tasks are drawn: ``layered`` (10 layers, each task depending
on 2 of the layer before) and ``fan-out`` (one task, N-2 in parallel, one join). For each, a
fresh browser context signs in with the API key through the login page, then opens the run page
``--repeat`` times; a load is timed from the navigation's start to the first animation frame
after the page's script has drawn the graph (its ``graph-drawn`` performance mark, which
``app/static/ui/run.js`` sets once every node is in the document), so it includes the server's
answer, parsing, the layout (dagre) and building the SVG. The target (issue 19): < 2 s.

Chromium is Debian's (``chromium`` on PATH, or ``HARMONIA_CHROMIUM``) driven by Playwright; without
either the bench says so and skips this part.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from app.migrate import upgrade
from bench.fanout import _env, _settings, _start_api, _stop

TARGET_MS = 2000
LAYERS = 10


def layered(tasks: int) -> dict:
    width = tasks // LAYERS
    steps = {}
    for layer in range(LAYERS):
        for i in range(width):
            below = [f"t{layer - 1}_{(i + k) % width}" for k in (0, 1)] if layer else []
            steps[f"t{layer}_{i}"] = {
                "component": "builtin",
                "action": "echo",
                "input": {"message": "x"},
                **({"depends_on": sorted(set(below))} if below else {}),
            }
    return {"name": f"bench-ui-layered-{tasks}", "tasks": steps}


def fan_out(tasks: int) -> dict:
    echo = {"component": "builtin", "action": "echo", "input": {"message": "x"}}
    middle = [f"m{i}" for i in range(tasks - 2)]
    steps = {"start": dict(echo)}
    steps.update({name: {**echo, "depends_on": ["start"]} for name in middle})
    steps["join"] = {**echo, "depends_on": middle}
    return {"name": f"bench-ui-fan-out-{tasks}", "tasks": steps}


def chromium() -> str | None:
    return (
        os.environ.get("HARMONIA_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def _time_loads(browser, base: str, key: str, run_id: str, repeat: int) -> list[float]:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto("/ui/login")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in with the key").click()
        page.wait_for_url("**/ui/")
        times = []
        for _ in range(repeat + 1):  # the first load warms the server's and browser's caches
            page.goto(f"/ui/runs/{run_id}")
            page.wait_for_function(
                "performance.getEntriesByName('graph-drawn').length > 0", timeout=60_000
            )
            drawn = page.evaluate(
                "new Promise(done => requestAnimationFrame(() => done(performance.now())))"
            )
            nodes = page.locator("#graph [data-step]").count()
            if nodes != int(page.locator("#graph").get_attribute("data-steps")):
                raise RuntimeError(f"the graph shows {nodes} nodes")
            times.append(drawn)
        return times[1:]
    finally:
        context.close()


def run(tasks: int, repeat: int, log=print) -> dict:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="harmonia-ui-bench-"))
    settings, embedded = _settings(home)
    upgrade(settings.database_url)
    processes: list[subprocess.Popen] = []
    with open(home / "api.log", "w") as api_log:
        try:
            api, http = _start_api(settings, _env(settings, 8, "gthread"), api_log)
            processes.append(api)
            runs = {}
            for shape, build in (("layered", layered), ("fan-out", fan_out)):
                created = http.post("/api/v1/workflows", json=build(tasks))
                created.raise_for_status()
                started = http.post(f"/api/v1/workflows/{created.json()['id']}/execute", json={})
                started.raise_for_status()
                runs[shape] = started.json()["id"]
            args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
            measured = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium(), headless=True, args=args
                )
                try:
                    for shape, run_id in runs.items():
                        times = _time_loads(
                            browser,
                            f"http://127.0.0.1:{settings.port}",
                            settings.admin_api_key,
                            run_id,
                            repeat,
                        )
                        measured[shape] = times
                        log(f"{shape}: {', '.join(f'{t:.0f}' for t in times)} ms")
                finally:
                    browser.close()
        finally:
            _stop(processes)
            if isinstance(embedded, subprocess.Popen):
                embedded.terminate()
    return {"tasks": tasks, "repeat": repeat, "loads_ms": measured}


def report(result: dict) -> str:
    lines = [
        f"Dashboard: the run page of a {result['tasks']}-task run, navigation start to the graph "
        f"drawn (headless Chromium, median of {result['repeat']} loads; target < {TARGET_MS} ms)",
    ]
    for shape, times in result["loads_ms"].items():
        median = statistics.median(times)
        verdict = "ok" if median < TARGET_MS else "MISS"
        lines.append(
            f"  {shape:10} median {median:6.0f} ms  (min {min(times):.0f}, max {max(times):.0f})"
            f"  {verdict}"
        )
    return "\n".join(lines)


def available() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if chromium() is None:
        return "no chromium (apt-get install chromium, or set HARMONIA_CHROMIUM)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000, help="steps in the run (1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed loads per shape (5)")
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        print(f"bench.ui: skipped: {missing}", file=sys.stderr)
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        print(report(run(args.tasks, args.repeat, log=lambda m: print(m, file=sys.stderr))))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
