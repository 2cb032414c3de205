"""The operator console in a real headless Chromium (Debian's, driven by Playwright).

Run by tests/suite/console.rs against a gateway it started in front of the mock
provider: python3 console_check.py ADMIN_URL API_URL ADMIN_TOKEN SCREENSHOT_DIR.
Exits non-zero (an AssertionError) on the first expectation that does not hold.
"""

import os
import sys
import time

from playwright.sync_api import sync_playwright

import browser_helpers as helpers
from browser_helpers import call

ADMIN, API, TOKEN, SHOTS = sys.argv[1:5]
os.makedirs(SHOTS, exist_ok=True)


def chat(model, key=None):
    return call(f"{API}/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]}, key)


def shot(page, name):
    helpers.shot(page, SHOTS, name)


with sync_playwright() as p:
    browser = helpers.launch(p)
    page, errors = helpers.new_page(browser)

    # A wrong token does not sign in.
    page.goto(ADMIN + "/")
    page.wait_for_selector("#signin:not([hidden])")
    shot(page, "signin")
    page.fill("#token", "not-the-token")
    page.click("#signin-button")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert page.is_hidden("#app"), "a wrong token signed in"
    cookies = [c for c in page.context.cookies() if c["name"] == "sb_console"]
    assert not cookies, cookies

    # The right one does; the cookie is HttpOnly and SameSite=Strict.
    page.fill("#token", TOKEN)
    page.click("#signin-button")
    page.wait_for_selector("#view-overview")
    cookie = [c for c in page.context.cookies() if c["name"] == "sb_console"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie

    # The overview's figures are the usage records'.
    now = int(time.time())
    _, _, usage = call(f"{ADMIN}/admin/usage?from={now - 86400}&group=", token=TOKEN)
    total = usage["rows"][0]
    shown = page.inner_text("#ov-requests").replace(",", "")
    assert shown == str(total["requests"]), (shown, total)
    tokens = page.inner_text("#ov-tokens").replace(",", "")
    assert tokens == str(total["prompt_tokens"] + total["completion_tokens"]), (tokens, total)
    shot(page, "overview")

    # Disabling a target in the console changes routing for the next requests.
    page.goto(ADMIN + "/#routes")
    page.wait_for_selector("#view-routes")
    page.click('button[data-target="m/q/y"]')
    page.wait_for_selector('button[data-target="m/q/y"]:text("Enable")')
    providers = {chat("m")[1].get("x-switchboard-provider") for _ in range(6)}
    assert providers == {"p"}, providers
    shot(page, "routes")
    page.click('button[data-target="m/q/y"]')
    page.wait_for_selector('button[data-target="m/q/y"]:text("Disable")')
    providers = {chat("m")[1].get("x-switchboard-provider") for _ in range(6)}
    assert providers == {"p", "q"}, providers

    # A change without the CSRF token is refused, even with the session cookie.
    status = page.evaluate("""async () => {
        const r = await fetch('/admin/overrides', { method: 'POST', credentials: 'same-origin',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ route: 'm', provider: 'q', model: 'y', enabled: false }) });
        return r.status;
    }""")
    assert status == 403, status

    # A comparison of three routes shows three answers.
    page.goto(ADMIN + "/#compare")
    page.wait_for_selector("#view-compare")
    for route in ["m", "n", "o"]:
        page.check(f'input.compare-route[value="{route}"]')
    page.click("#compare-run")
    # (wait_for_function would evaluate a string: the console's CSP forbids that.)
    page.wait_for_selector("#compare-results .result >> nth=2")
    answers = page.eval_on_selector_all("#compare-results .result .answer", "els => els.map(e => e.textContent)")
    assert len(answers) == 3 and all(a.strip() for a in answers), answers
    shot(page, "compare")

    # A virtual key made in the console answers a chat completion.
    page.goto(ADMIN + "/#keys")
    page.wait_for_selector("#view-keys")
    page.fill("#key-name", "from-the-console")
    page.click("#key-create")
    page.wait_for_selector("#new-secret")
    secret = page.inner_text("#new-secret").strip()
    status, _, body = chat("m", secret)
    assert status == 200, (status, body)
    shot(page, "keys")

    # The gateway's budget: its limit and what the traffic so far spent of it.
    page.goto(ADMIN + "/#budgets")
    page.wait_for_selector("#view-budgets")
    text = page.inner_text("#view-budgets")
    assert "monthly" in text and "$5.0000" in text, text

    for view in ["usage", "budgets", "alerts", "plugins", "config"]:
        page.goto(f"{ADMIN}/#{view}")
        page.wait_for_selector(f"#view-{view}")
        assert not page.query_selector(f"#view-{view} > p.error"), page.inner_text(f"#view-{view}")
        shot(page, view)

    # Signing out ends the session.
    page.click("#signout button")
    page.wait_for_selector("#signin:not([hidden])")
    status = page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).status")
    assert status == 401, status
    assert not [e for e in errors if "Content Security Policy" in e], errors
    browser.close()
print("console ok")
