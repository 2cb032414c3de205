"""Single sign-on to the console through an OpenID provider, in a real headless Chromium.

python3 sso_check.py ADMIN_URL LOGIN PASSWORD EXPECTED_ACTOR [SCREENSHOT_DIR]
The gateway has `[auth.oidc]` pointing at an IdP (tests/idp/idp.mjs) that knows LOGIN
with PASSWORD; EXPECTED_ACTOR is what the console's header then shows, `name · role`
(e.g. `carol@example.com · viewer`). SCREENSHOT_DIR defaults to $SSO_SCREENSHOTS, else
target/sso-screens.

The sign-in page's single sign-on link goes to the IdP's login page; a wrong password is
refused there; the right one lands back on the console, signed in as EXPECTED_ACTOR.
Signing out ends the console session (and, when the gateway sends the browser on to the
IdP's sign-out page, the IdP's: its confirmation is clicked) and ends on the console's
sign-in page, where `/admin/session` answers 401. Exits non-zero (an AssertionError) on
the first expectation that does not hold; prints `sso ok` at the end.
"""

import os
import sys

from playwright.sync_api import sync_playwright

import browser_helpers as helpers

ADMIN, LOGIN, PASSWORD, EXPECTED = sys.argv[1:5]
ADMIN = ADMIN.rstrip("/")
SHOTS = (sys.argv[5] if len(sys.argv) > 5 else "") or os.environ.get("SSO_SCREENSHOTS") \
    or os.path.join(os.getcwd(), "target", "sso-screens")
os.makedirs(SHOTS, exist_ok=True)
IDP_LOGIN = 'input[name="login"]'
IDP_LOGOUT = 'button[name="logout"][value="yes"]'


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def on_console(page):
    return page.url.startswith(ADMIN + "/")


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)

    # The sign-in page offers single sign-on, labelled as the config says.
    page.goto(ADMIN + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.wait_for_selector("#sso-link:not([hidden])")
    assert page.get_attribute("#sso-link", "href") == "/console/sso", page.get_attribute("#sso-link", "href")
    assert page.inner_text("#sso-link").strip(), "the single sign-on link has no text"
    shot(page, "signin-sso")

    # To the IdP's login page; a wrong password is refused there.
    page.click("#sso-link")
    page.wait_for_selector(IDP_LOGIN)
    assert not on_console(page), page.url
    page.fill(IDP_LOGIN, LOGIN)
    page.fill('input[name="password"]', PASSWORD + "-wrong")
    page.click('button[type="submit"]')
    page.wait_for_selector("#error")
    shot(page, "idp-refused")

    # The right one: back on the console, signed in.
    page.fill(IDP_LOGIN, LOGIN)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#page > [id^='view-']")
    assert on_console(page), page.url
    assert "sso=" not in page.url, page.url
    actor = page.inner_text("#actor").strip()
    assert actor == EXPECTED, (actor, EXPECTED)
    session = page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).json()")
    assert session["via"] == "session", session
    shot(page, "sso-signed-in")

    # Signing out: through the IdP's confirmation when the gateway sends the browser there.
    page.click("#signout button")
    page.wait_for_selector(f"{IDP_LOGOUT}, #signin:not([hidden])")
    at_idp = not on_console(page)
    if at_idp:
        shot(page, "idp-logout")
        page.click(IDP_LOGOUT)
    page.wait_for_selector("#signin:not([hidden])")
    assert on_console(page), page.url
    status = page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).status")
    assert status == 401, status
    shot(page, "sso-signed-out")
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, csp
    browser.close()
print(f"sso ok (the IdP's sign-out {'confirmed' if at_idp else 'not reached: the console session ended'})")
