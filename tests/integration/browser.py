"""Browser tests: real headless Chromium, driven by Playwright's sync API, against the live server.

The fixtures are imported by ``conftest.py``, so any integration test can ask for them:

- ``chromium_path``: the Chromium binary, from ``HARMONIA_CHROMIUM``, else ``chromium`` or
  ``chromium-browser`` on PATH. Without one a browser test is skipped, except under ``CI=true``,
  where ``.ci/run`` installs Debian's ``chromium`` and a missing one fails the run. Playwright
  only ever launches that binary: ``playwright install`` is never needed.
- ``browser``: headless Chromium, one per test module (see below).
- ``new_page(**context_options)``: a page in a fresh context whose ``base_url`` is the ``server``
  fixture's, so ``page.goto("/ui/")`` works. ``page`` (1280x800) and ``phone_page`` (390x844,
  touch) are its two usual calls. ``@pytest.mark.browser_context(...)`` adds context options to
  all of a test's pages: ``color_scheme="dark"``, ``extra_http_headers=ADMIN``...
- A console error (a failed resource or a CSP violation included; Chromium's own request for
  ``/favicon.ico`` excepted) or an uncaught exception on any page fails the test at teardown,
  unless the test is marked ``@pytest.mark.allow_console_errors`` (every error) or
  ``@pytest.mark.allow_console_errors(r"status of 401")`` (those matching a pattern).
  ``console_errors(page)`` lists what its context has logged so far.
- ``screenshot(page, name)`` writes ``artefacts/screenshots/<name>.png`` at the repository's root
  (``$HARMONIA_ARTEFACTS/screenshots`` when set). A failing test's pages are saved by themselves
  under ``screenshots/failures/``.

Why a browser per module rather than per session: while Playwright's sync API is alive, the main
thread reports its event loop as running, and ``asyncio.run()`` refuses to start
(``test_python_clients.py`` uses it). The ``server`` fixture is per module too, and Chromium starts
in about a second.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Every action and `expect`, and every navigation: generous, for a busy 2-core CI machine that
# also runs the server and its worker.
TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000
FAILED = pytest.StashKey[bool]()

# The console messages of each open context, keyed by the context's id.
_console: dict[int, list[str]] = {}


def _unavailable(problem: str) -> NoReturn:
    message = f"{problem}: the browser tests drive Chromium through Playwright"
    if CI:
        pytest.fail(f"{message} (CI=true: .ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary; skips (fails under CI) when there is none. Session-scoped and first
    in ``browser``'s arguments, so a skip comes before the server starts."""
    configured = os.environ.get("HARMONIA_CHROMIUM")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            _unavailable(f"HARMONIA_CHROMIUM={configured} is not an executable file")
        return configured
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _unavailable("chromium is not installed (nor chromium-browser, nor HARMONIA_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """Headless Chromium (the sandbox needs an unprivileged user: it is off for root)."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[dev]')")
    expect.set_options(timeout=TIMEOUT_MS)
    args = ["--disable-dev-shm-usage"]  # containers' /dev/shm is often 64 MB
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=args
        )
        yield chromium
        chromium.close()


def console_errors(page: Page) -> list[str]:
    """The console errors and uncaught exceptions of ``page``'s context, so far."""
    return list(_console.get(id(page.context), []))


def _watch(context: BrowserContext) -> None:
    errors = _console[id(context)] = []

    def on_console(message) -> None:
        url = (message.location or {}).get("url") or ""
        # Chromium asks every site for /favicon.ico by itself: its 404 is no page's doing.
        if message.type == "error" and urlsplit(url).path != "/favicon.ico":
            line = message.location.get("lineNumber")
            errors.append(f"{message.text} ({url}:{line})" if url else message.text)

    context.on("console", on_console)
    context.on("weberror", lambda web_error: errors.append(f"uncaught: {web_error.error}"))


def _allowed(request: pytest.FixtureRequest) -> Callable[[str], bool]:
    marker = request.node.get_closest_marker("allow_console_errors")
    if marker is None:
        return lambda error: False
    patterns = [re.compile(pattern) for pattern in marker.args]
    return lambda error: not patterns or any(p.search(error) for p in patterns)


def _marked_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("browser_context"))):
        options.update(marker.kwargs)  # the closest marker (the test's own) wins
    return options


@pytest.fixture
def new_page(browser: Browser, server: str, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """``new_page(**context_options) -> Page``: each call opens its own context (cookies,
    storage), with the desktop viewport, the server as ``base_url`` and the test's
    ``browser_context`` marker; explicit options win. Closed, and checked, at teardown."""
    contexts: list[BrowserContext] = []
    marked = _marked_options(request)

    def open_page(**options: Any) -> Page:
        context = browser.new_context(
            **{**DESKTOP, "base_url": f"http://{server}", **marked, **options}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        _watch(context)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = request.node.stash.get(FAILED, False)
    errors: list[str] = []
    for number, context in enumerate(contexts):
        if failed:
            for index, page in enumerate(context.pages):
                _save_failure(page, request.node.nodeid, f"{number}-{index}")
        context.close()  # also delivers the events still in flight
        errors += _console.pop(id(context), [])
    allowed = _allowed(request)
    unexpected = [error for error in errors if not allowed(error)]
    if not unexpected:
        return
    report = "console errors in the browser (mark the test allow_console_errors if expected):\n"
    report += "\n".join(f"  {error}" for error in unexpected)
    if failed:
        print(report)  # shown with the failure; a second error would only repeat it
    else:
        pytest.fail(report, pytrace=False)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop page (1280x800) on the live server."""
    return new_page()


@pytest.fixture
def phone_page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page (390x844, touch) on the live server. It is a mobile browser: a page
    without ``<meta name="viewport" content="width=device-width">`` is laid out 980 px wide."""
    return new_page(**PHONE)


def artefacts_dir() -> Path:
    return Path(os.environ.get("HARMONIA_ARTEFACTS") or ROOT / "artefacts")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``page`` as ``<artefacts>/screenshots/<name>.png`` and return the file's path."""
    return _save(page, artefacts_dir() / "screenshots", name, full_page=full_page)


def _save(page: Page, folder: Path, name: str, *, full_page: bool) -> Path:
    safe = re.sub(r"[^\w.-]+", "-", name).strip("-.") or "page"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _save_failure(page: Page, nodeid: str, suffix: str) -> None:
    folder = artefacts_dir() / "screenshots" / "failures"
    try:
        # The viewport, as the test left it: a full page of a long document can take longer
        # than the timeout.
        path = _save(page, folder, f"{nodeid}-{suffix}", full_page=False)
        print(f"failure screenshot: {path}")
    except Exception as exc:  # a crashed page must not hide the test's own failure
        print(f"no failure screenshot of {nodeid}: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Tell ``new_page``'s teardown whether the test itself failed (for its screenshots)."""
    report = yield
    if report.when == "call":  # an expected failure (xfail) is a failure here too
        item.stash[FAILED] = report.failed or (report.skipped and hasattr(report, "wasxfail"))
    return report
