"""The dashboard in a real headless Chromium, against the live server and a real worker, as a
person uses it: sign in, start a run from a workflow's form and watch its graph turn green, pause,
resume, cancel, rerun from a step, and look after the fleet. Each page is saved as a screenshot
(``artefacts/screenshots/``)."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.integration.browser import screenshot
from tests.integration.helpers import create_workflow, execute

pytest.importorskip("playwright")  # installed with the dev extras; CI fails in the fixture
from playwright.sync_api import Page, expect  # noqa: E402

PASSWORD = "correct horse battery staple"
GREETING = {
    "description": "Greets someone, naps, and shouts",
    "input_schema": {
        "type": "object",
        "properties": {
            "who": {"type": "string", "description": "Whom to greet"},
            "times": {"type": "integer", "default": 1},
        },
        "required": ["who"],
    },
    "tasks": {
        "greet": {
            "component": "builtin",
            "action": "echo",
            "input": {"message": "Hello ${workflow.input.who}"},
        },
        "nap": {
            "component": "builtin",
            "action": "sleep",
            "input": {"seconds": 1.5},
            "depends_on": ["greet"],
        },
        "shout": {
            "component": "builtin",
            "action": "echo",
            "input": {"message": "${tasks.greet.output.message}!"},
            "depends_on": ["nap"],
        },
    },
}


def slow(steps: int, seconds: float) -> dict:
    """A chain of naps: long enough to steer from the page."""
    tasks = {}
    for n in range(steps):
        tasks[f"nap{n}"] = {
            "component": "builtin",
            "action": "sleep",
            "input": {"seconds": seconds},
            **({"depends_on": [f"nap{n - 1}"]} if n else {}),
        }
    return {"tasks": tasks}


@pytest.fixture
def operator(live) -> str:
    username = f"ada-{uuid.uuid4().hex[:6]}"
    created = live.post(
        "/api/v1/auth/users", json={"username": username, "password": PASSWORD, "role": "operator"}
    )
    assert created.status_code == 201, created.json
    return username


def sign_in(page: Page, username: str, target: str = "/ui/") -> None:
    page.goto(target)
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))


def node(page: Page, step: str):
    return page.locator(f'#graph [data-step="{step}"]')


def run_status(page: Page):
    return page.locator("#run-status [data-status]")


@pytest.mark.allow_console_errors(r"status of (400|401|422)")  # the refusals the test asks for
def test_sign_in_start_a_run_from_the_form_and_watch_it_turn_green(live, page, operator):
    page.goto("/ui/login")
    screenshot(page, "login")
    page.get_by_label("Username").fill(operator)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("#login-error")).to_contain_text("Invalid username or password")

    workflow = create_workflow(live, GREETING)
    sign_in(page, operator)
    screenshot(page, "runs-empty")
    page.get_by_role("link", name="Workflows").click()
    page.get_by_role("link", name=workflow["name"]).click()
    expect(node(page, "nap")).to_be_visible()
    screenshot(page, "workflow")

    # The form comes from the input schema: a required string, an integer with its default.
    expect(page.get_by_label("times")).to_have_value("1")
    page.get_by_role("button", name=f"Run {workflow['name']}").click()
    expect(page.locator("#run-form-error")).to_contain_text("who")  # required, left empty
    page.get_by_label("who").fill("Ada")
    page.get_by_role("button", name=f"Run {workflow['name']}").click()
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))
    page.evaluate("window.notReloaded = true")

    expect(node(page, "greet")).to_have_class(re.compile(r"status-COMPLETED"))
    expect(node(page, "nap")).to_have_class(re.compile(r"status-RUNNING"))
    screenshot(page, "run-running")
    for step in ("nap", "shout"):
        expect(node(page, step)).to_have_class(re.compile(r"status-COMPLETED"))
    expect(run_status(page)).to_have_text("COMPLETED")
    expect(page.locator("#progress-text")).to_have_text("3/3 steps")
    assert page.evaluate("window.notReloaded") is True  # live: the page was never reloaded

    run_id = page.url.rsplit("/", 1)[1]
    assert live.get(f"/api/v1/runs/{run_id}").json["input_data"] == {"who": "Ada", "times": 1}
    expect(page.locator("#run-output")).to_contain_text("Hello Ada!")

    node(page, "greet").click()
    expect(page.locator("#step-output")).to_contain_text("Hello Ada")
    expect(page.locator("#step-status")).to_have_text("COMPLETED")
    expect(page.locator("#gantt")).to_contain_text("shout")
    screenshot(page, "run")

    page.get_by_role("link", name="Runs", exact=True).click()
    row = page.locator(f'tr[data-run="{run_id}"]')
    expect(row).to_contain_text("COMPLETED")
    screenshot(page, "runs")
    page.get_by_role("link", name="Events").click()
    expect(page.locator("#events")).to_contain_text("execution_completed")
    screenshot(page, "events")


def test_pause_resume_and_cancel_from_the_run_page(live, page, operator):
    workflow = create_workflow(live, slow(5, 1.5))
    first = execute(live, workflow["id"])
    sign_in(page, operator, f"/ui/runs/{first}")
    expect(run_status(page)).to_have_text("RUNNING")

    page.get_by_role("button", name="Pause").click()
    expect(run_status(page)).to_have_text(re.compile(r"PAUS(ING|ED)"))
    expect(run_status(page)).to_have_text("PAUSED", timeout=15_000)
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    screenshot(page, "run-paused")
    page.get_by_role("button", name="Resume").click()
    expect(run_status(page)).to_have_text("RUNNING")
    expect(run_status(page)).to_have_text("COMPLETED", timeout=20_000)
    for n in range(5):
        expect(node(page, f"nap{n}")).to_have_class(re.compile(r"status-COMPLETED"))

    second = execute(live, workflow["id"])
    page.goto(f"/ui/runs/{second}")
    expect(run_status(page)).to_have_text("RUNNING")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(run_status(page)).to_have_text("CANCELLED", timeout=15_000)
    expect(node(page, "nap4")).not_to_have_class(re.compile(r"status-COMPLETED"))
    assert live.get(f"/api/v1/runs/{second}").json["status"] == "CANCELLED"


def test_rerun_from_a_step_with_new_input(live, page, operator):
    workflow = create_workflow(live, GREETING)
    run_id = execute(live, workflow["id"], {"who": "Ada"})
    sign_in(page, operator, f"/ui/runs/{run_id}")
    expect(run_status(page)).to_have_text("COMPLETED", timeout=20_000)

    # The keyboard reaches every step: one tab stop for the graph, arrows along its edges.
    page.locator("#graph svg").focus()
    page.keyboard.press("ArrowRight")  # into the steps: the first one
    page.keyboard.press("ArrowRight")  # along its edge
    page.keyboard.press("Enter")
    expect(page.locator("#step-heading")).to_have_text("Step nap")

    node(page, "shout").click()
    expect(page.locator("#step-output")).to_contain_text("Hello Ada!")
    page.get_by_label("New input for the step").fill('{"message": "Again"}')
    page.get_by_role("button", name="Rerun from this step").click()
    expect(run_status(page)).to_have_text("COMPLETED", timeout=20_000)
    node(page, "shout").click()
    expect(page.locator("#step-output")).to_contain_text("Again")
    shout = live.get(f"/api/v1/runs/{run_id}/steps/shout").json
    assert shout["output_data"]["message"] == "Again" and shout["attempt"] >= 1


def test_the_fleet_pages_show_a_worker_and_a_waiting_queue_and_steer_the_pool(
    live, rt, page, operator
):
    queue = f"ui-idle-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        rt.celery.send_task("harmonia.noop-never-run", queue=queue)
    try:
        sign_in(page, operator, "/ui/queues")
        depth = page.locator(f'tr[data-queue="{queue}"] [data-depth]')
        expect(depth).to_have_text("3")
        screenshot(page, "queues")
    finally:
        rt.redis.delete(queue, f"_kombu.binding.{queue}")

    page.get_by_role("link", name="Workers").click()
    card = page.locator("[data-worker^='harmonia@']").first
    expect(card).to_be_visible()
    hostname = card.get_attribute("data-worker")
    pool = card.locator('[data-fact="Pool"]')
    before = live.get(f"/api/v1/ops/workers/{hostname}").json["pool"]["size"]
    expect(pool).to_contain_text(f", {before} of max")
    screenshot(page, "workers")

    card.get_by_role("button", name="Grow pool +1").click()
    try:
        expect(card.locator('[data-fact="Pool"]')).to_contain_text(
            f", {before + 1} of max", timeout=15_000
        )
    finally:
        page.locator(f'[data-worker="{hostname}"]').get_by_role(
            "button", name="Shrink pool −1"
        ).click()
    expect(page.locator(f'[data-worker="{hostname}"] [data-fact="Pool"]')).to_contain_text(
        f", {before} of max", timeout=15_000
    )
    deadline = time.monotonic() + 15
    while live.get(f"/api/v1/ops/workers/{hostname}").json["pool"]["size"] != before:
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_a_phone_and_dark_mode_show_the_run_page(live, new_page, operator):
    workflow = create_workflow(live, GREETING)
    run_id = execute(live, workflow["id"], {"who": "Phone"})
    phone = new_page(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    sign_in(phone, operator, f"/ui/runs/{run_id}")
    expect(run_status(phone)).to_have_text("COMPLETED", timeout=20_000)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 19, 23)", background  # the dark palette
    screenshot(phone, "run-phone-dark")


@pytest.mark.allow_console_errors(r"status of 403")
def test_a_cookie_without_the_pages_token_cannot_act(live, page, operator):
    workflow = create_workflow(live, GREETING)
    sign_in(page, operator)
    forged = page.evaluate(
        """async (id) => {
            const answer = await fetch(`/api/v1/workflows/${id}/execute`, {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({input_data: {who: "Mallory"}})});
            return [answer.status, await answer.json()];
        }""",
        workflow["id"],
    )
    assert forged[0] == 403 and "CSRF" in forged[1]["detail"], forged
    assert live.get("/api/v1/runs").json["total"] == 0  # nothing was started
    cookie = next(c for c in page.context.cookies() if c["name"] == "harmonia_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.goto("/ui/events")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/events"))
