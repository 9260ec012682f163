"""Webhook rules that need no services: the SSRF guard, the vocabulary, signatures, backoff."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest

from app.events.vocabulary import EVENTS, NOT_NOTIFIED, compile_filter, name_for
from app.services.delivery import backoff, sign
from app.services.errors import UnsafeUrl
from app.services.webhooks import check_url
from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1.2.3/x",
        "http://localhost:8080/x",
        "http://api.localhost/x",
        "http://10.0.0.1/x",
        "http://172.16.5.4/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/x",
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::ffff:10.0.0.1]/x",
    ],
)
def test_the_guard_refuses_non_public_addresses(url):
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url, allow_private=False)
    assert refused.value.errors[0]["field"] == "url"
    check_url(url, allow_private=True)  # the setting lets them through


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https(url):
    with pytest.raises(UnsafeUrl, match="scheme"):
        check_url(url, allow_private=True)


def test_public_addresses_and_unresolvable_names_pass():
    check_url("https://93.184.215.14/hook", allow_private=False)
    check_url("http://[2606:4700::6810:84e5]/hook", allow_private=False)
    check_url("https://no-such-host.invalid/hook", allow_private=False)


def test_every_emitted_event_type_has_a_name_in_each_vocabulary():
    emitted = set()
    for path in [*ROOT.glob("app/**/*.py"), *ROOT.glob("worker/**/*.py")]:
        text = path.read_text()
        emitted |= set(re.findall(r'emit\(\s*(?:[\w.]+,\s*)?"([a-z_]+)"', text))
        emitted |= {f"task_{v}" for v in ("failed", "cancelled")}
        emitted |= {f"invocation_{v}" for v in ("completed", "failed")}
    known = {e.internal for e in EVENTS} | NOT_NOTIFIED
    assert emitted and emitted <= known, emitted - known
    readme = (ROOT / "README.md").read_text()
    for event in EVENTS:
        assert f"`{event.dotted.split('.')[-1]}`" in readme or event.dotted in readme, event


def test_filters_match_across_vocabularies():
    assert compile_filter(["workflow.*"]) >= {"execution_started", "execution_completed"}
    assert "task_started" not in compile_filter(["workflow.*"])
    assert compile_filter(["step_completed"]) == {"task_completed"}
    assert compile_filter(["task_failed", "task.execution.retrying"]) == {
        "task_failed",
        "task_retrying",
    }
    assert compile_filter(["*"]) == {e.internal for e in EVENTS}
    assert name_for("task_completed", "v1") == "task.execution.completed"
    assert name_for("task_completed", "seed004") == "step_completed"


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret!!", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret!!", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_backoff_doubles_with_jitter_and_spans_about_an_hour_by_default():
    settings = Settings()
    waits = [backoff(settings, n) for n in range(1, settings.webhook_max_attempts)]
    for n, wait in enumerate(waits):
        assert 0.75 * 30 * 2**n <= wait <= 1.25 * 30 * 2**n
    assert 0.75 * 3810 <= sum(waits) <= 1.25 * 3810  # 30 s × (2^7 - 1) ≈ 63 min
