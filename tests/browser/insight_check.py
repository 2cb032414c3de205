"""The Requests, Trends and Errors pages of the console, in a real headless Chromium.

python3 insight_check.py ADMIN_URL USER PASSWORD CASES_JSON SCREENSHOT_DIR

USER signs in with their password (a role that may read and operate: replay is a
change). CASES_JSON is a file:

    {"find": {"key": "<key name>", "route": "<route>"}, "expect_id": "req_...",
     "attempts": N, "replay_route": "<route>", "replay_expect": "<text>",
     "trends_range": "90d", "min_series": N}

Requests: the filter form (`#requests-filter`) filled with `find` and submitted lists
the request `expect_id` (`tr.request-row[data-id]`); its row opens `#request-detail`,
whose story has `attempts` bars (`.story-attempt`); Replay through `replay_route` shows
the original answer (`.replay-original`, not empty) and the new one (`.replay-new`,
containing `replay_expect`) side by side. Trends: with range `trends_range`, at least
one chart (`.trend-chart canvas`) is drawn, with at least `min_series` series (its
legend's, or its `data-series`); the time from asking for the page to every chart drawn
is printed as `TRENDS_MS=<n>`. Errors: the page draws. No Content-Security-Policy
violation on the way. Screenshots: requests.png, trends.png, errors.png. Exits non-zero
(an AssertionError or a Playwright timeout) on the first expectation that does not
hold; prints `insight ok` at the end.
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

import browser_helpers as helpers

if len(sys.argv) < 6:
    sys.exit(__doc__.strip().splitlines()[2])
ADMIN = sys.argv[1].rstrip("/")
USER, PASSWORD, CASES, SHOTS = sys.argv[2:6]
with open(CASES, encoding="utf-8") as f:
    CASE = json.load(f)
SHOTS = SHOTS or os.path.join(os.getcwd(), "target", "insight-screens")
os.makedirs(SHOTS, exist_ok=True)


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def no_error(page, view):
    bad = page.query_selector(f"#view-{view} > p.error")
    assert not bad, f"the {view} page says: {bad.inner_text()}"


with sync_playwright() as p:
    browser = helpers.launch(p)
    page, errors = helpers.new_page(browser)
    page.set_default_timeout(20000)
    helpers.sign_in(page, ADMIN, USER, PASSWORD)

    # ---- Requests: filter, find, open, story, replay ----
    page.goto(f"{ADMIN}/#requests")
    page.wait_for_selector("#view-requests #requests-filter")
    no_error(page, "requests")
    for name, value in (CASE.get("find") or {}).items():
        field = f"#requests-filter [name='{name}']"
        assert page.query_selector(field), f"the filter has no field {name}"
        page.fill(field, str(value))
    # Submitting redraws the page: wait for the new one (the old one is replaced).
    old = page.query_selector("#view-requests")
    page.click("#requests-apply")
    page.wait_for_function("(old) => !old.isConnected", arg=old)
    page.wait_for_selector("#view-requests #requests-filter")
    no_error(page, "requests")
    for name, value in (CASE.get("find") or {}).items():
        assert f"{name}=" in page.url, f"the filter {name}={value} is not in the URL: {page.url}"
    row = f"#requests-table tr.request-row[data-id='{CASE['expect_id']}']"
    assert page.query_selector(row), (
        f"{CASE['expect_id']} is not listed with {CASE.get('find')}: "
        + str(page.eval_on_selector_all("tr.request-row", "rs => rs.map((r) => r.dataset.id)")))
    page.click(row)
    page.wait_for_selector(f"#request-detail[data-id='{CASE['expect_id']}'] h2")
    page.wait_for_function("() => !document.querySelector('#request-detail').textContent.includes('reading ')")
    detail_error = page.query_selector("#request-detail > p.error")
    assert not detail_error, detail_error.inner_text()
    attempts = len(page.query_selector_all("#request-detail .story-attempt"))
    assert attempts == CASE["attempts"], f"{attempts} attempts on the timeline, expected {CASE['attempts']}"
    for bar in page.query_selector_all("#request-detail .story-attempt .tl-bar"):
        box = bar.bounding_box()
        assert box and box["width"] > 0, "an attempt's bar has no width"
    assert page.query_selector("#replay-route") and page.is_visible("#replay-go"), "no Replay control"
    routes = page.eval_on_selector_all("#replay-route option", "os => os.map((o) => o.value)")
    assert CASE["replay_route"] in routes, f"{CASE['replay_route']} is not offered to replay through: {routes}"
    page.select_option("#replay-route", CASE["replay_route"])
    page.click("#replay-go")
    page.wait_for_function(
        """(want) => {
            const n = document.querySelector('#replay-result .replay-new');
            const e = document.querySelector('#replay-error');
            return (n && n.textContent.includes(want)) || !!e;
        }""", arg=CASE["replay_expect"])
    replay_error = page.query_selector("#replay-error")
    assert not replay_error, f"replay refused: {replay_error.inner_text()}"
    original = page.text_content("#replay-result .replay-original") or ""
    assert original.strip(), "the original answer is empty"
    new = page.text_content("#replay-result .replay-new") or ""
    assert CASE["replay_expect"] in new, new
    page.query_selector("#replay-result").scroll_into_view_if_needed()
    shot(page, "requests")

    # ---- Trends: charts drawn, series counted, time taken ----
    trends_range = CASE.get("trends_range", "24h")
    start = page.evaluate("""(range) => {
        const t = performance.now();
        location.hash = `#trends?by=model&range=${range}`;
        return t;
    }""", trends_range)
    page.wait_for_selector(f"#view-trends #trends-range", timeout=60000)
    no_error(page, "trends")
    assert page.eval_on_selector("#trends-range", "s => s.value") == trends_range
    assert not page.query_selector("#trends-empty"), "the Trends page has no series in this range"
    page.wait_for_selector("#view-trends[data-drawn] .trend-chart canvas", timeout=60000)
    # The frame the charts are in has been painted too.
    took = page.evaluate("(t0) => new Promise((ok) => requestAnimationFrame(() => ok(performance.now() - t0)))", start)
    charts = page.query_selector_all(".trend-chart")
    assert charts, "no trend chart"
    for c in charts:
        assert c.query_selector("canvas"), "a trend chart has no canvas"
    legend = page.eval_on_selector(".trend-chart", "c => c.querySelectorAll('.u-legend tr.u-series').length - 1")
    declared = int(page.eval_on_selector(".trend-chart", "c => c.dataset.series || '0'"))
    series = max(legend, declared)
    assert series >= CASE.get("min_series", 1), f"{series} series (legend {legend}, data-series {declared}), expected {CASE.get('min_series')}"
    assert page.query_selector_all(".grade-strip"), "no health grade strip"
    print(f"TRENDS_MS={round(took)}")
    print(f"TRENDS_CHARTS={len(charts)} SERIES={declared} LEGEND={legend}")
    shot(page, "trends")

    # ---- Errors ----
    page.goto(f"{ADMIN}/#errors")
    page.wait_for_selector("#view-errors")
    no_error(page, "errors")
    shot(page, "errors")

    csp = [e for e in errors if "Content Security Policy" in e or "Content-Security-Policy" in e]
    assert not csp, csp
    browser.close()
print("insight ok")
