"""The seed 003 example client (``examples/seed003_client.py``, written from the "Workflow
Orchestration API Reference" alone) run against a live gunicorn server with a real worker and a
real webhook notifier."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.api_support import ADMIN

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed003_client.py"


@pytest.mark.parametrize("versioning", [[], ["--v2"]], ids=["accept-header", "url-v2"])
def test_the_example_client_runs_to_completion(server, clean, notifier, versioning):
    # Registering webhooks is an admin's operation (app/profiles/seed003/views.py).
    user = {"username": "client003", "password": "client003-password", "role": "admin"}
    created = httpx.post(f"http://{server}/api/v1/auth/users", json=user, headers=ADMIN, timeout=30)
    assert created.status_code == 201, created.text
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *versioning],
        env={
            **os.environ,
            "HARMONIA_URL": f"http://{server}",
            "HARMONIA_USERNAME": user["username"],
            "HARMONIA_PASSWORD": user["password"],
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert "Final status: COMPLETED" in lines, output
    assert any(line.startswith("progress: 2/2 tasks") for line in lines), output
    assert "webhook received: workflow.execution.completed (signature verified)" in lines, output
    assert lines[-1] == "done", output
