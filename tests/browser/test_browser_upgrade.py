"""A whole upgrade on the sandbox's page, in headless Chromium, clicking as the seeded users.

`mesh-upgrade-bot sandbox` runs as a child process, exactly as `make sandbox` starts it. On its
page alice asks for the upgrade, mallory's click is refused, bob sees it waiting for him on the
app's Home tab and starts it, carol rolls the workloads out, and after the soak bob completes
it through the confirm dialog. Every step is asserted on what the page shows; screenshots go
to tests/artifacts/browser-*.png.
`UPDATE_DOCS_SCREENSHOT=1` also writes the last one to docs/sandbox.png (the README's picture).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest

from tests.browser.sandbox_page import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    ROOT,
    Sandbox,
    chromium_path,
    running_sandbox,
)
from tests.meshsim.traffic_env import require_prometheus

try:
    from playwright.sync_api import Locator, Page, expect, sync_playwright
except ImportError as exc:  # pragma: no cover - the test extras install it
    raise RuntimeError("the browser test needs playwright: pip install -e '.[test]'") from exc

SPEED = "20"  # simulated seconds per real second
SOAK = "60"  # simulated seconds of Verifying: 3 real seconds
STEP = 30_000  # ms for one step of the run to show on the page
TRAFFIC_WINDOW = "5"  # real seconds of traffic watched before and after each wave

# Every version of the card's phase line and progress bar the page ever drew, in order: the
# page re-renders on each poll, and some phases last only a few polls.
RECORDER = """
window.__seen = { phases: [], progress: [] };
new MutationObserver(() => {
  const header = [...document.querySelectorAll("#messages > .message > .blocks > .header")]
    .find((h) => h.textContent.startsWith("Mesh upgrade"));
  if (!header) return;
  const blocks = [...header.parentElement.children].map((b) => b.textContent);
  const note = (list, text) => { if (text && list[list.length - 1] !== text) list.push(text); };
  note(window.__seen.phases, (header.nextElementSibling.querySelector("b") || {}).textContent);
  note(window.__seen.progress, blocks.find((t) => /\\d+\\/\\d+ workloads \\(/.test(t)));
}).observe(document, { childList: true, subtree: true });
"""


@pytest.fixture
def chromium() -> str:
    """Debian's chromium; CI installs it, so a missing one fails the test (never skips it)."""
    try:
        return chromium_path()
    except RuntimeError as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    require_prometheus()  # the sandbox's traffic gates read from a real Prometheus
    with running_sandbox("--port", "0", "--speed", SPEED, "--soak", SOAK,
                         "--traffic-window", TRAFFIC_WINDOW,
                         name="browser-sandbox") as sandbox:
        yield sandbox


@pytest.fixture
def page(chromium: str, sandbox: Sandbox) -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(RECORDER)
            page.set_default_timeout(STEP)
            expect.set_options(timeout=STEP)
            page.goto(sandbox.page_url)
            yield page
            shot(page, "last")  # how the page looked at the end, passed or failed
        finally:
            browser.close()


def shot(page: Page, name: str) -> None:
    """tests/artifacts/browser-NAME.png, and what the card showed so far beside it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"browser-{name}.png")
    (ARTIFACTS / "browser-seen.json").write_text(json.dumps(seen(page), indent=1))


def act_as(page: Page, name: str) -> None:
    page.select_option("#user", label=name)
    expect(page.locator("#user option:checked")).to_have_text(name)


def card(page: Page) -> Locator:
    """The run's card: the top-level message whose header is "Mesh upgrade · aks-sandbox ..."."""
    return page.locator("#messages > .message").filter(
        has=page.locator(":scope > .blocks > .header", has_text="Mesh upgrade · aks-sandbox"))


def phase(page: Page) -> Locator:
    return card(page).locator(":scope > .blocks > .section").first


def button(page: Page, action_id: str) -> Locator:
    return card(page).locator(f':scope > .blocks button[data-action-id="{action_id}"]')


def thread(page: Page) -> Locator:
    """The side pane with the open thread."""
    return page.locator("#thread-messages")


def seen(page: Page) -> dict[str, list[str]]:
    value: dict[str, list[str]] = page.evaluate("window.__seen")
    return value


def assert_in_order(shown: list[str], *wanted: str) -> None:
    at = 0
    for part in wanted:
        found = next((i for i in range(at, len(shown)) if part in shown[i]), None)
        assert found is not None, f"the card never showed {part!r} in order {wanted}: {shown}"
        at = found + 1


def test_a_whole_upgrade_clicked_through_on_the_sandbox_page(page: Page) -> None:
    started = time.monotonic()
    expect(page.locator("#user option")).to_have_text(["alice", "bob", "carol", "mallory"])
    expect(page.locator("#channel option:checked")).to_have_text("#mesh-ops")

    # alice asks: the card shows the plan, the old control plane and the Start button.
    act_as(page, "alice")
    page.fill("#composer", "/mesh-upgrade start aks-sandbox")
    page.press("#composer", "Enter")
    expect(page.locator("#status")).to_contain_text("/mesh-upgrade: socket_mode ack in")
    expect(phase(page)).to_contain_text("Planned: waiting for approval to start")
    expect(phase(page)).to_contain_text("requested by @alice")
    expect(button(page, "approve-start")).to_have_text("Start upgrade")
    expect(button(page, "cancel-run")).to_be_visible()
    expect(page.locator("#thread")).to_be_hidden()
    card(page).locator("button.replies").click()
    expect(page.locator("#thread")).to_be_visible()
    expect(thread(page).locator(".message.root")).to_contain_text("Mesh upgrade · aks-sandbox")
    expect(thread(page).locator(".header", has_text="Plan · aks-sandbox")).to_be_visible()
    expect(page.locator(".ephemeral", has_text="Run 1 planned")).to_be_visible()
    shot(page, "01-planned")

    # mallory is not an approver: only she sees the refusal, and the run stays planned.
    act_as(page, "mallory")
    expect(page.locator(".ephemeral", has_text="Run 1 planned")).to_have_count(0)
    button(page, "approve-start").click()
    refusal = page.locator(".ephemeral", has_text="Nothing was done")
    expect(refusal).to_contain_text("not an approver")
    expect(refusal.locator(".only")).to_have_text("Only visible to you")
    expect(phase(page)).to_contain_text("Planned")
    shot(page, "02-mallory-refused")

    # bob opens the app's Home tab: the run, its phase and the approval waiting for him.
    act_as(page, "bob")
    page.click("#home-tab")
    expect(page.locator("#status")).to_contain_text("app_home_opened: socket_mode ack in")
    home = page.locator("#home")
    expect(home).to_contain_text("Waiting for your approval")
    expect(home).to_contain_text("start on aks-sandbox")
    expect(home.locator("a", has_text="run 1").first).to_be_visible()
    expect(home).to_contain_text("Runs in progress")
    shot(page, "02b-bob-home")
    page.click("#home-tab")
    expect(home).to_be_hidden()

    # bob approves: Starting, then Canary ready with both control planes.
    expect(refusal).to_have_count(0)
    button(page, "approve-start").click()
    expect(page.locator("#status")).to_contain_text("approve-start: socket_mode ack in")
    expect(phase(page)).to_contain_text("Canary ready: both control planes serve")
    planes = card(page).locator(":scope > .blocks > .section:has(.fields)")
    expect(planes).to_contain_text("Control planes")
    expect(planes).to_contain_text("asm-1-22")
    expect(planes).to_contain_text("asm-1-23")
    expect(planes.locator(".fields > div")).to_have_count(2)
    expect(button(page, "approve-roll")).to_have_text("Roll out workloads")
    assert_in_order(seen(page)["phases"], "Planned", "Starting", "Canary ready")
    shot(page, "03-canary-ready")

    # carol rolls the workloads out: progress, then Verifying with checks and charts.
    act_as(page, "carol")
    button(page, "approve-roll").click()
    # Each wave is watched on Prometheus before the next: the card says how traffic held.
    expect(card(page)).to_contain_text("Traffic", timeout=2 * STEP)
    expect(phase(page)).to_contain_text("Verifying: soak checks running", timeout=4 * STEP)
    check = thread(page).locator(".message", has=page.locator(".header", has_text="Check · "))
    expect(check.first).to_be_visible()
    charts = thread(page).locator("figure.file-image img")
    expect(charts.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread-messages figure.file-image img')]"
        ".some((i) => i.complete && i.naturalWidth > 100)")
    progress = seen(page)["progress"]
    done = [int(m[1]) for p in progress if (m := re.search(r"(\d+)/12 workloads \(", p))]
    assert done and done == sorted(done), f"the progress bar went {progress}"
    shot(page, "04-verifying")

    # After the soak bob completes, through the confirm dialog.
    act_as(page, "bob")
    complete = button(page, "approve-complete")
    expect(complete).to_have_text("Complete", timeout=2 * STEP)
    complete.click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("Complete on aks-sandbox?")
    expect(page.locator("#confirm-text")).to_contain_text("removes the asm-1-22 control plane")
    expect(page.locator("#confirm-ok")).to_have_text("Complete")
    expect(page.locator("#confirm-deny")).to_have_text("Not yet")
    shot(page, "05-confirm")
    page.click("#confirm-ok")
    expect(dialog).to_be_hidden()

    # Completed: no buttons left, and who approved each step.
    expect(phase(page)).to_contain_text("Completed", timeout=2 * STEP)
    expect(card(page).locator(":scope > .blocks button")).to_have_count(0)
    approvals = card(page).locator(":scope > .blocks > .context").first
    for who, what in (("bob", "start"), ("carol", "roll"), ("bob", "complete")):
        expect(approvals).to_contain_text(f"{what} by @{who}")
    assert_in_order(seen(page)["phases"], "Planned", "Starting", "Canary ready", "Rolling",
                    "Verifying", "Completing", "Completed")
    expect(page.locator(".ephemeral", has_text="not an approver")).to_have_count(0)
    shot(page, "06-completed")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        _docs_screenshot(page)
    # Each step above has its own deadline; the whole run's time is a figure, not a check.
    print(f"\nthe run on the page took {time.monotonic() - started:.1f} s")


def _docs_screenshot(page: Page) -> None:
    """The README's picture: the completed card, and its thread at the last check's chart."""
    target = ROOT / "docs" / "sandbox.png"
    target.parent.mkdir(exist_ok=True)
    thread(page).locator("figure.file-image").last.evaluate(
        "(f) => f.scrollIntoView({ block: 'end' })")
    page.screenshot(path=target)
