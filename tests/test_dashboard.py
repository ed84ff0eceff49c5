"""The dashboard at /_mock/ui, driven in headless Chromium (Debian's package) via Playwright.

Screenshots land in $WAN26_ARTIFACTS or tests/artifacts/ (not in git) for review;
`WAN26_ARTIFACTS=docs` remakes the ones the documentation shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.contracts.core.access import fingerprint
from wan26.mockserver import Config, create_app
from wan26.mockserver.config import ControlConfig, KeyConfig, QueueConfig
from wan26.mockserver.server.background import running_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "the dashboard tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y --no-install-recommends chromium)",
        allow_module_level=True,
    )
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # generous: the machine is small and busy
BODY = {"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}
ARTIFACTS = Path(os.environ.get("WAN26_ARTIFACTS") or Path(__file__).parent / "artifacts")
# What a v1 video's answer says, shown in the request's details as sent.
ANSWER_HEADERS = [
    "x-cost",
    "x-remaining-credits",
    "x-request-id",
    "x-seed-value",
    "x-generation-time",
]
# True when the scrolling panel around an element hides nothing sideways.
PANEL_FITS = "b => { const s = b.closest('.scroll'); return s.scrollWidth <= s.clientWidth; }"


@dataclass
class Dashboard:
    base: str
    page: playwright.Page
    errors: list[str]

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"x-api-key": API_KEY, **(headers or {})}
        return httpx.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def row(self, text: str, status: int | None = None) -> playwright.Locator:
        rows = "#log tr" if status is None else f'#log tr[data-status="{status}"]'
        return self.page.locator(rows, has_text=text)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright.Browser]:
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_dashboard(browser: playwright.Browser):
    @contextmanager
    def opened(config: Config, wait_live: bool = True) -> Iterator[Dashboard]:
        app = create_app(config)
        with running_server(app) as base:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/_mock/ui")
            if wait_live:
                playwright.expect(page.locator("#live")).to_have_class("live ok", timeout=WAIT_MS)
            try:
                yield Dashboard(base, page, errors)
            finally:
                context.close()
        assert errors == []

    return opened


@dataclass
class Questions:
    """The page's `confirm()` questions, each answered as `accept` says (Playwright alone
    dismisses them), and kept in `asked`."""

    accept: bool = False
    asked: list[str] = field(default_factory=list)

    def __call__(self, dialog: playwright.Dialog) -> None:
        self.asked.append(dialog.message)
        dialog.accept() if self.accept else dialog.dismiss()


def test_a_call_appears_in_the_live_list_without_a_reload(open_dashboard) -> None:
    with open_dashboard(make_config()) as board:
        answer = board.call("POST", "/v1/wan-2.6-i2v", json=BODY)
        assert answer.status_code == 200
        board.call("POST", "/v1/wan-2.6-i2v", json={**BODY, "duration": 7})
        ok = board.row("/v1/wan-2.6-i2v", 200)
        charged = ok.locator("td.num").first
        playwright.expect(charged).to_have_text("$0.625", timeout=WAIT_MS)  # as x-cost says
        playwright.expect(board.page.locator("#fig-spent")).to_have_text("$0.625")
        playwright.expect(ok).to_contain_text(fingerprint(API_KEY))
        bad = board.row("/v1/wan-2.6-i2v", 400)
        playwright.expect(bad).to_have_count(1, timeout=WAIT_MS)
        assert board.page.locator("#log tr").first.get_attribute("data-status") == "400"

        bad.get_by_role("button").click()
        detail = board.page.locator("#detail")
        playwright.expect(detail.locator("#detail-error")).to_contain_text(
            "Invalid parameter 'duration'"
        )
        playwright.expect(detail.locator("#detail-headers")).to_contain_text(fingerprint(API_KEY))
        assert API_KEY not in detail.inner_text()
        playwright.expect(detail.locator("#detail-body")).to_contain_text('"duration": 7')

        ok.get_by_role("button").click()  # a v1 video plays in the details too
        answered = detail.locator("#detail-response-headers")
        for name in ANSWER_HEADERS:
            row = answered.locator("tr", has=board.page.locator("th", has_text=name))
            playwright.expect(row.locator("td")).to_have_text(answer.headers[name])
        assert answer.headers["x-cost"] == "0.625"
        assert answer.headers["x-remaining-credits"] == "999999.375"
        v1_video = detail.locator("video")
        board.page.wait_for_function(
            "v => v.readyState >= 1", arg=v1_video.element_handle(), timeout=WAIT_MS
        )
        assert v1_video.evaluate("v => v.duration") == pytest.approx(5.0, abs=0.1)

        board.page.select_option("#f-status", "2")
        playwright.expect(board.page.locator("#log tr")).to_have_count(1, timeout=WAIT_MS)

        journal = httpx.get(f"{board.base}/_mock/journal", timeout=30).json()["entries"]
        assert [entry["path"] for entry in journal] == ["/v1/wan-2.6-i2v"] * 2


def test_a_v2_job_completes_and_its_video_plays_with_the_right_duration(open_dashboard) -> None:
    config = make_config(time_scale=0.02, queue=QueueConfig(workers=1))
    with open_dashboard(config) as board:
        first = board.call("POST", "/v2/wan-2.6-i2v", json=BODY).json()["request_id"]
        second = board.call("POST", "/v2/wan-2.6-i2v", json={**BODY, "duration": 10}).json()
        waiting = board.page.locator(f'[data-job="{second["request_id"]}"]')
        playwright.expect(waiting).to_contain_text("queue position 1", timeout=WAIT_MS)
        job = board.page.locator(f'[data-job="{first}"]')
        playwright.expect(job).to_have_attribute("data-state", "PROCESSING", timeout=WAIT_MS)
        playwright.expect(job).to_have_attribute("data-state", "COMPLETED", timeout=WAIT_MS)
        video = job.locator("video")
        board.page.wait_for_function(
            "v => v.readyState >= 1", arg=video.element_handle(), timeout=WAIT_MS
        )
        assert video.evaluate("v => v.duration") == pytest.approx(5.0, abs=0.1)
        assert job.locator("progress").evaluate("p => p.value") == 1

        board.call("GET", "/v1/get-user-credits", headers={"x-mock-scenario": "bad-gateway"})
        playwright.expect(waiting).to_have_attribute("data-state", "COMPLETED", timeout=WAIT_MS)
        submit = board.row("/v2/wan-2.6-i2v").first
        playwright.expect(submit.locator("td.num").first).to_have_text("$1.25")
        submit.get_by_role("button", name="/v2/wan-2.6-i2v").click()
        detail_video = board.page.locator("#detail video")
        board.page.wait_for_function(
            "v => v.readyState >= 1", arg=detail_video.element_handle(), timeout=WAIT_MS
        )
        assert detail_video.evaluate("v => v.duration") == pytest.approx(10.0, abs=0.1)
        playwright.expect(board.page.locator("#detail .charge")).to_have_text(
            "Charged $1.25 when the job completed"
        )
        playwright.expect(board.page.locator("#fig-spent")).to_have_text("$1.875")  # 0.625 + 1.25

        # The submit links to its job, and the job back to its submit.
        board.page.locator("#detail-job").get_by_role("button", name=second["request_id"]).click()
        playwright.expect(waiting).to_have_class("job selected")
        playwright.expect(waiting).to_be_focused()
        job.get_by_role("button", name="request #1").click()
        playwright.expect(board.page.locator("#detail .charge")).to_have_text(
            "Charged $0.625 when the job completed"
        )
        playwright.expect(board.page.locator("#detail-job")).to_contain_text(first)
        journal = httpx.get(f"{board.base}/_mock/journal", timeout=30).json()["entries"]
        paths = ["/v2/wan-2.6-i2v", "/v2/wan-2.6-i2v", "/v1/get-user-credits"]
        assert [entry["path"] for entry in journal] == paths  # the players' fetches are not


def test_screenshots_after_v1_calls_and_a_v2_job(open_dashboard) -> None:
    """The page the documentation shows: three v1 calls (one reusing the first's video,
    one refused), a finished v2 job, and the v2 submit's details open."""
    config = make_config(time_scale=0.02, queue=QueueConfig(workers=1))
    with open_dashboard(config) as board:
        for body in (BODY, BODY, {**BODY, "duration": 7}):
            board.call("POST", "/v1/wan-2.6-i2v", json=body)
        job_id = board.call("POST", "/v2/wan-2.6-i2v", json=BODY).json()["request_id"]
        job = board.page.locator(f'[data-job="{job_id}"]')
        playwright.expect(job).to_have_attribute("data-state", "COMPLETED", timeout=WAIT_MS)
        playwright.expect(board.page.locator("#fig-spent")).to_have_text("$1.875")

        # Three videos answered: the second v1 call and the v2 job reused the first's.
        playwright.expect(board.page.locator("#fig-video")).to_have_text("3 (2 reused)")
        card = board.page.locator("#figures div", has=board.page.locator("#fig-video"))
        assert "reused" in (card.get_attribute("title") or "")

        summary = board.page.locator("#report-summary")
        playwright.expect(summary).to_contain_text("$1.875 spent", timeout=WAIT_MS)
        board.row("/v2/wan-2.6-i2v").get_by_role("button", name="/v2/wan-2.6-i2v").click()
        playwright.expect(board.page.locator("#detail .charge")).to_contain_text("$0.625")
        board.row("/v1/wan-2.6-i2v", 200).last.get_by_role("button").click()  # the first call
        answered = board.page.locator("#detail-response-headers")
        playwright.expect(answered).to_contain_text("x-remaining-credits999999.375")
        screenshots(board.page)


def screenshots(page: playwright.Page) -> None:
    """The page at a desktop and a phone width, and dark, for a reviewer to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height, scheme in ((1280, 800, "light"), (390, 844, "light"), (1280, 800, "dark")):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
        assert page.locator("#accounts .scroll").evaluate(PANEL_FITS)  # Save, Remove in sight
        suffix = "" if scheme == "light" else f"-{scheme}"
        path = ARTIFACTS / f"dashboard-{width}x{height}{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000


def test_editing_credits_adding_and_removing_keys(open_dashboard) -> None:
    with open_dashboard(make_config()) as board:
        row = board.page.locator(f'#acct tr[data-id="{fingerprint(API_KEY)}"]')
        row.locator('[name="credits"]').fill("42.123456")
        row.get_by_role("button", name="Save").click()
        playwright.expect(board.page.locator("#steer-msg")).to_contain_text("credits $42.123456")
        assert board.call("GET", "/v1/get-user-credits").json()["credits"] == 42.123456
        playwright.expect(row.locator(".held")).to_have_text("0")

        board.page.fill("#new-key", "added-by-page")
        board.page.fill("#new-credits", "3")
        board.page.fill("#new-plan", "free")
        board.page.get_by_role("button", name="Add key").click()
        added = fingerprint("added-by-page")
        playwright.expect(board.page.locator("#steer-msg")).to_contain_text(f"Added {added}")
        headers = {"x-api-key": "added-by-page"}
        assert board.call("GET", "/v1/get-user-credits", headers=headers).json()["credits"] == 3
        added_row = board.page.locator(f'#acct tr[data-id="{added}"]')
        playwright.expect(added_row.locator('[name="plan"]')).to_have_value("5")

        remove = added_row.get_by_role("button", name="Remove")
        questions = Questions()
        board.page.on("dialog", questions)
        remove.click()  # dismissed: nothing happens
        playwright.expect(added_row).to_have_count(1)
        assert board.call("GET", "/v1/get-user-credits", headers=headers).status_code == 200
        questions.accept = True
        remove.click()
        playwright.expect(added_row).to_have_count(0)
        assert board.call("GET", "/v1/get-user-credits", headers=headers).status_code == 401
        question = f"Remove the key {added}? Its credits and settings go with it."
        assert questions.asked == [question, question]


def test_the_accounts_fit_a_390_px_window(open_dashboard) -> None:
    """Each account is a card: Save and Remove in sight and working, nothing scrolls sideways."""
    with open_dashboard(make_config()) as board:
        page = board.page
        page.set_viewport_size({"width": 390, "height": 844})
        page.fill("#new-key", "narrow-key")
        page.get_by_role("button", name="Add key").click()
        row = page.locator(f'#acct tr[data-id="{fingerprint("narrow-key")}"]')
        playwright.expect(row).to_have_count(1)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        for account in page.locator("#acct tr").all():
            for name in ("Save", "Remove"):
                button = account.get_by_role("button", name=name)
                button.scroll_into_view_if_needed()
                box = button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
                assert button.evaluate(PANEL_FITS)

        row.locator('[name="credits"]').fill("7.25")
        row.get_by_role("button", name="Save").click()
        playwright.expect(page.locator("#steer-msg")).to_contain_text("credits $7.25")
        page.on("dialog", Questions(accept=True))
        row.get_by_role("button", name="Remove").click()
        playwright.expect(row).to_have_count(0)
        headers = {"x-api-key": "narrow-key"}
        assert board.call("GET", "/v1/get-user-credits", headers=headers).status_code == 401


def test_forcing_rate_limited_from_the_page_makes_the_next_call_a_429(open_dashboard) -> None:
    with open_dashboard(make_config()) as board:
        page = board.page
        page.select_option("#force-outcome", "rate-limited")
        page.get_by_role("button", name="Force").click()
        playwright.expect(page.locator("#steer-msg")).to_have_text(
            "The next 1 call(s) will get rate-limited"
        )
        playwright.expect(page.locator("#queued")).to_contain_text("rate-limited x 1")
        assert board.call("GET", "/v1/get-user-credits").status_code == 429
        assert board.call("GET", "/v1/get-user-credits").status_code == 200
        playwright.expect(page.locator("#queued li")).to_have_count(0, timeout=WAIT_MS)

        page.fill("#chaos-rates", "server-error=1")
        page.get_by_role("button", name="Set chaos").click()
        playwright.expect(page.locator("#steer-msg")).to_contain_text("server-error 1")
        assert board.call("GET", "/v1/get-user-credits").status_code == 500
        questions = Questions()
        page.on("dialog", questions)
        page.get_by_role("button", name="Clear scenarios").click()
        page.get_by_role("button", name="Reset emulator").click()
        assert board.call("GET", "/v1/get-user-credits").status_code == 500  # both dismissed
        assert [question.split("?")[0] for question in questions.asked] == [
            "Clear every queued scenario and the chaos settings",
            "Reset the emulator",
        ]
        questions.accept = True
        page.get_by_role("button", name="Clear scenarios").click()
        playwright.expect(page.locator("#steer-msg")).to_contain_text("cleared")
        assert board.call("GET", "/v1/get-user-credits").status_code == 200

        page.get_by_role("button", name="Reset emulator").click()
        playwright.expect(page.locator("#steer-msg")).to_contain_text("Emulator reset")
        playwright.expect(page.locator("#log tr")).to_have_count(0, timeout=WAIT_MS)


ATTACK = """<!doctype html><iframe id="framed" src="{base}/_mock/ui"></iframe><script>
fetch("{base}/_mock/scenarios", {{method: "POST", mode: "no-cors",
  body: '{{"outcome": "insufficient-credits", "times": 1000000000}}'}})
  .then(() => fetch("{base}/_mock/reset", {{method: "POST", mode: "no-cors"}}))
  .finally(() => (document.title = "sent"));
</script>"""


def test_a_page_on_another_origin_can_neither_steer_nor_frame_the_dashboard(
    open_dashboard, browser: playwright.Browser
) -> None:
    with open_dashboard(make_config()) as board:
        board.call("GET", "/v1/get-user-credits")

        async def attacker(request: Request) -> Response:
            return HTMLResponse(ATTACK.format(base=board.base))

        with running_server(Starlette(routes=[Route("/", attacker)])) as elsewhere:
            page = board.page.context.new_page()
            page.goto(elsewhere)
            playwright.expect(page).to_have_title("sent")
            framed = page.frame_locator("#framed")
            playwright.expect(framed.locator("#live")).to_have_count(0)
        scenarios = board.call("GET", "/_mock/scenarios").json()
        assert scenarios["queued"] == []
        assert board.call("GET", "/_mock/journal").json()["count"] == 1  # not reset
        assert board.call("GET", "/v1/get-user-credits").status_code == 200


def test_with_a_control_token_the_page_asks_for_it_once(open_dashboard) -> None:
    config = make_config(keys=[KeyConfig(key=API_KEY)], control=ControlConfig(token="s3cret-token"))
    with open_dashboard(config, wait_live=False) as board:
        page = board.page
        dialog = page.locator("#token-dialog")
        playwright.expect(dialog).to_be_visible()
        page.fill("#token-input", "wrong")
        page.get_by_role("button", name="Use token").click()
        playwright.expect(page.locator("#token-error")).to_be_visible()
        page.fill("#token-input", "s3cret-token")
        page.get_by_role("button", name="Use token").click()
        playwright.expect(dialog).to_be_hidden()
        playwright.expect(page.locator("#live")).to_have_class("live ok")
        board.call("GET", "/v1/get-user-credits")
        playwright.expect(board.row("/v1/get-user-credits")).to_have_count(1)

        page.reload()
        playwright.expect(page.locator("#live")).to_have_class("live ok")
        assert not dialog.is_visible()
