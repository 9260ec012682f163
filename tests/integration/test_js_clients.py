"""The JavaScript clients (``clients/js``: HarmoniaClient, seed 000; SynthesisClient, seed 004)
tested with Node's own test runner against a live gunicorn server with a real worker.

``node --test`` runs ``clients/js/test/*.test.js``, which run both documents' "JavaScript Client"
examples essentially verbatim. Node >= 20.10 is needed (its WebSocket; before Node 22 behind
``--experimental-websocket``). Without it the test is skipped, except under ``CI=true``, where
``.ci/run`` installs Node and a missing or old one fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.api_support import ADMIN

JS = Path(__file__).resolve().parents[2] / "clients" / "js"
CI = os.environ.get("CI", "").lower() == "true"
MINIMUM = (20, 10)


@pytest.fixture(scope="module")
def node() -> tuple[str, tuple[int, int]]:
    """The ``node`` binary and its version; skips (fails under CI) when there is no usable one.
    Module-scoped and first in the test's arguments, so a skip comes before the server starts."""
    node = shutil.which("node")
    problem = None
    version = (0, 0)
    if node is None:
        problem = "node is not installed"
    else:
        text = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        match = re.match(r"v(\d+)\.(\d+)", text)
        version = (int(match[1]), int(match[2])) if match else (0, 0)
        if version < MINIMUM:
            problem = f"node {text or '?'} at {node} is too old"
    if problem:
        message = f"{problem}: the JS clients' tests need Node >= {MINIMUM[0]}.{MINIMUM[1]}"
        if CI:
            pytest.fail(f"{message} (CI=true: .ci/run installs it)", pytrace=False)
        pytest.skip(message)
    return node, version


def _link_workspace() -> None:
    """``import { SynthesisClient } from 'synthesis-client'`` (seed 004's example) resolves
    through ``clients/js/node_modules/synthesis-client``: the link ``npm install`` makes for
    the package's workspace, made here so that npm is not needed."""
    link = JS / "node_modules" / "synthesis-client"
    if link.is_symlink() and link.resolve() == (JS / "synthesis-client").resolve():
        return
    link.parent.mkdir(exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path("..") / "synthesis-client", target_is_directory=True)


def test_the_js_clients_pass_their_node_tests(node, server, clean):
    node, version = node
    _link_workspace()
    key = httpx.post(
        f"http://{server}/api/v1/auth/keys",
        json={"name": "js-client", "role": "operator"},
        headers=ADMIN,
        timeout=30,
    )
    assert key.status_code == 201, key.text
    flags = ["--experimental-websocket"] if version < (22, 0) else []
    files = sorted(str(path.relative_to(JS)) for path in (JS / "test").glob("*.test.js"))
    assert files, "no clients/js/test/*.test.js"
    env = {
        **os.environ,
        "HARMONIA_URL": f"http://{server}",
        "HARMONIA_API_KEY": key.json()["key"],
        "NO_COLOR": "1",
    }
    try:
        result = subprocess.run(
            [node, *flags, "--test", "--test-reporter=spec", *files],
            cwd=JS,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node --test did not finish in 120 s:\n{exc.stdout}\n{exc.stderr}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test exited {result.returncode}:\n{output}"
    assert re.search(r"\bfail 0\b", output), output
    assert not re.search(r"\b(skipped|cancelled) [1-9]", output), output
