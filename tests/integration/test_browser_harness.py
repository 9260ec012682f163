"""The browser harness (``tests/integration/browser.py``) end to end: headless Chromium renders
the bundled API docs from the live gunicorn server, and the harness sees what a page logs.

Without Chromium these tests are skipped, except under ``CI=true``, where ``.ci/run`` installs
Debian's ``chromium`` and a missing one fails the run.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.integration.api_support import ADMIN
from tests.integration.browser import console_errors, screenshot

PNG = b"\x89PNG\r\n\x1a\n"

# The docs need a viewer's credential unless HARMONIA_PUBLIC_DOCS=true: the admin key rides along
# on every request of the page, the spec that the docs' script fetches included.
as_admin = pytest.mark.browser_context(extra_http_headers=ADMIN)


@as_admin
# ReDoc's "API docs by Redocly" footer asks cdn.redoc.ly for its logo, which the docs' CSP blocks.
@pytest.mark.allow_console_errors(r"cdn\.redoc\.ly/.*violates the following Content Security")
def test_redoc_renders_the_spec_in_chromium(page):
    response = page.goto("/redoc")
    assert response is not None and response.status == 200, response and response.status
    # ReDoc lays out all 200-odd operations before it shows anything: seconds of CPU, and many
    # more when the machine is busy.
    expect(page.get_by_role("heading", name="Harmonia (0.1.0)")).to_be_visible(timeout=60_000)
    operations = page.locator("[data-section-id*='/paths/']")  # tag/runs/paths/~1api~1v1~1runs/get
    expect(operations.first).to_be_attached()
    assert operations.count() > 20
    expect(page.locator("[data-section-id='tag/runs/paths/~1api~1v1~1runs/get']")).to_be_attached()
    path = screenshot(page, "harness-redoc", full_page=False)
    assert path.read_bytes().startswith(PNG)


@as_admin
def test_swagger_ui_renders_the_operations_in_chromium(page):
    response = page.goto("/docs")
    assert response is not None and response.status == 200, response and response.status
    operations = page.locator(".opblock")
    # Whichever comes first: the operations, or Swagger UI's own error.
    rendered = operations.first.or_(page.get_by_text("Unable to render this definition"))
    expect(rendered).to_be_visible()
    screenshot(page, "harness-swagger-ui", full_page=False)
    assert operations.count() > 20, page.locator("#swagger-ui").inner_text()[:300]
    assert console_errors(page) == []


@pytest.mark.allow_console_errors(r"^boom", r"^uncaught: .*kaboom")
def test_console_errors_and_uncaught_exceptions_are_collected(page):
    page.goto("/health")
    page.evaluate("console.error('boom'); console.log('fine')")
    page.evaluate("setTimeout(() => { throw new Error('kaboom') })")
    page.wait_for_function("new Promise(resolve => setTimeout(() => resolve(true), 50))")
    errors = console_errors(page)
    assert len(errors) == 2 and errors[0].startswith("boom"), errors
    assert "kaboom" in errors[1], errors


@pytest.mark.browser_context(color_scheme="dark")
def test_phone_page_is_phone_sized_touch_and_dark(phone_page):
    phone_page.set_content('<meta name="viewport" content="width=device-width">')
    assert phone_page.evaluate("[innerWidth, innerHeight]") == [390, 844]
    assert phone_page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert phone_page.evaluate("matchMedia('(pointer: coarse)').matches")
