"""The results: a plain-text table on stdout and the same numbers as JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

# Harmonia/bare Celery, per shape (issue: performance, round two).
RATIO_TARGETS = {"fan_out_200": 1.8, "chain_50": 2.0, "layered_1000": 1.1}
COMPILE_TARGET_S = 2.0
MESSAGE_TARGET_BYTES = 256 * 1024


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def kb(size: int | None) -> str:
    return "n/a" if size is None else f"{size / 1024:.1f} KB"


def summarise(
    args,
    services,
    shapes: list[dict[str, Any]],
    compile_: dict[str, Any],
    pending_results: dict[str, int],
) -> dict[str, Any]:
    """Everything the table shows, plus the raw runs, as one JSON-ready dict. ``shapes`` holds
    one entry per shape and worker concurrency (its ``concurrency``)."""
    bare = [s["bare_largest_message_bytes"] for s in shapes if s["bare_largest_message_bytes"]]
    harmonia = [
        s["harmonia_largest_message_bytes"] for s in shapes if s["harmonia_largest_message_bytes"]
    ]
    largest = max(harmonia, default=None)
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "concurrency": args.concurrency,
        "concurrencies": args.concurrencies,
        "database": services.db_kind,
        "redis_host": services.redis_host,
        "repeat": args.repeat,
        "segment_size": services.settings.segment_size,
        "shapes": shapes,
        "compile": compile_,
        # Results the Celery clients still tracked (and were subscribed to) at the end.
        "client_pending_results_at_end": pending_results,
        "largest_message": {
            "harmonia_bytes": largest,
            "bare_bytes": max(bare, default=None),
            "target_bytes": MESSAGE_TARGET_BYTES,
            "pass": largest is not None and largest < MESSAGE_TARGET_BYTES,
        },
    }


def render(results: dict[str, Any]) -> str:
    concurrencies = ", ".join(str(n) for n in results["concurrencies"])
    lines = [
        f"worker concurrency {concurrencies}, database {results['database']}, "
        f"redis {results['redis_host']}, median of {results['repeat']} (after 1 warm-up)",
        "",
        f"{'shape':<26} {'workers':<8} {'bare celery':<13} {'harmonia':<10} ratio (harmonia/bare)",
    ]
    order = {name: n for n, name in enumerate(dict.fromkeys(s["name"] for s in results["shapes"]))}
    for shape in sorted(results["shapes"], key=lambda s: order[s["name"]]):  # stable: by pass
        bare, harmonia = f"{shape['bare_s']:.3f} s", f"{shape['harmonia_s']:.3f} s"
        lines.append(
            f"{shape['name']:<26} {shape['concurrency']:<8} {bare:<13} {harmonia:<10} "
            f"{shape['ratio']:.2f}  (target <= {RATIO_TARGETS[shape['key']]:g}: "
            f"{verdict(shape['pass'])})"
        )
    if results.get("concurrent_runs"):
        from bench.concurrent_runs import report

        lines.append(report(results["concurrent_runs"]))
    compile_ = results["compile"]
    lines.append(
        f"validate+compile {compile_['tasks']:,} tasks: {compile_['seconds']:.2f} s "
        f"(target < {COMPILE_TARGET_S:g} s: {verdict(compile_['pass'])})"
    )
    message = results["largest_message"]
    lines.append(
        f"largest broker message: harmonia {kb(message['harmonia_bytes'])}, "
        f"bare celery {kb(message['bare_bytes'])} "
        f"(target < {MESSAGE_TARGET_BYTES // 1024} KB: {verdict(message['pass'])})"
    )
    if results.get("webhooks"):
        from bench.webhooks import report

        lines.append(report(results["webhooks"]))
    if results.get("breakdown"):
        from bench.breakdown import report

        lines += ["", report(results["breakdown"])]
    if results.get("api_load"):
        from bench.api_load import report

        lines += ["", report(results["api_load"])]
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
