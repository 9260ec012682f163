"""The seed 004 example client (``examples/seed004_client.py``, written from the "Synthesis API
Reference" alone) run against a live gunicorn server with a real worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.api_support import ADMIN

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed004_client.py"


def test_the_example_client_runs_to_completion(server, clean):
    key = httpx.post(
        f"http://{server}/api/v1/auth/keys",
        json={"name": "client", "role": "operator"},
        headers=ADMIN,
        timeout=30,
    )
    assert key.status_code == 201, key.text
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env={**os.environ, "HARMONIA_URL": f"http://{server}", "HARMONIA_TOKEN": key.json()["key"]},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines == [
        "Execution completed with status: completed",
        "Step step1 output: Hello, World!",
        "done",
    ], result.stdout
