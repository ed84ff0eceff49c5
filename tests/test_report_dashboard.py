"""The dashboard's integration-report panel: findings, each linking to its requests, and
the outcomes never exercised (headless Chromium, as tests/test_dashboard.py)."""

from __future__ import annotations

from conftest import make_config
from test_dashboard import BODY, WAIT_MS, browser, open_dashboard, playwright

__all__ = ["browser", "open_dashboard"]  # the fixtures this module uses


def test_the_report_panel_shows_findings_linked_to_their_requests(open_dashboard) -> None:
    with open_dashboard(make_config()) as board:
        for _ in range(2):
            assert board.call("POST", "/v1/wan-2.6-i2v", json=BODY).status_code == 200
        finding = board.page.locator("#report-findings li", has_text="duplicate-paid-call")
        playwright.expect(finding).to_contain_text("x 1 · $0.625 at risk", timeout=WAIT_MS)
        playwright.expect(board.page.locator("#report-never")).to_contain_text("rate-limited")
        # A request the list does not show (filtered out) is fetched by its id.
        board.page.fill("#f-path", "/v2/")
        playwright.expect(board.page.locator("#log tr")).to_have_count(0, timeout=WAIT_MS)
        finding.get_by_role("button", name="#2").click()
        detail = board.page.locator("#detail")
        playwright.expect(detail).to_be_visible()
        playwright.expect(detail.locator("#detail-title")).to_contain_text(
            "POST /v1/wan-2.6-i2v → 200"
        )
