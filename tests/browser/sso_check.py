"""Single sign-on to the console through an OpenID provider, in a real headless Chromium.

Two ways to run it:

    python3 sso_check.py ADMIN_URL LOGIN PASSWORD EXPECTED_ACTOR [SCREENSHOT_DIR]
    python3 sso_check.py ADMIN_URL IDP_ISSUER SCREENSHOT_DIR CASES_JSON

The gateway has `[auth.oidc]` pointing at an IdP (tests/idp/idp.mjs). The first form is
one case: LOGIN with PASSWORD (a wrong password tried first) signs in as EXPECTED_ACTOR,
what the console's header then shows, `name · role` (e.g. `carol@example.com · viewer`);
SCREENSHOT_DIR defaults to $SSO_SCREENSHOTS, else target/sso-screens. The second form
runs each case of a JSON list in its own browser context (no cookies of the one before):
`{"login", "password", "expect": "name · role"}` or `{"login", "password", "error":
CODE}` (the console's sign-in page then says why, with `?sso=CODE`), with optionally
`"wrong_first": true` (a wrong password refused at the IdP first) and `"fault": MODE`
(the IdP tampers with its ID tokens, `POST IDP_ISSUER/_fault?mode=MODE`, for that case).

A case that signs in: the sign-in page's single sign-on link goes to the IdP's login
page; the right password lands back on the console, signed in as expected. Signing out
ends the console session and, when the gateway sends the browser on to the IdP's
sign-out page, the IdP's (its confirmation is clicked); it ends on the console's sign-in
page, where `/admin/session` answers 401. Exits non-zero (an AssertionError) on the
first expectation that does not hold; prints `sso ok` at the end.
"""

import json
import os
import sys
import urllib.request

from playwright.sync_api import sync_playwright

import browser_helpers as helpers

ADMIN = sys.argv[1].rstrip("/")
if len(sys.argv) > 4 and sys.argv[4].lstrip().startswith("["):
    ISSUER, SHOTS = sys.argv[2].rstrip("/"), sys.argv[3]
    CASES = json.loads(sys.argv[4])
else:
    ISSUER = None
    SHOTS = sys.argv[5] if len(sys.argv) > 5 else ""
    CASES = [{"login": sys.argv[2], "password": sys.argv[3], "expect": sys.argv[4], "wrong_first": True}]
SHOTS = SHOTS or os.environ.get("SSO_SCREENSHOTS") or os.path.join(os.getcwd(), "target", "sso-screens")
os.makedirs(SHOTS, exist_ok=True)
IDP_LOGIN = 'input[name="login"]'
IDP_LOGOUT = 'button[name="logout"][value="yes"]'


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def on_console(page):
    return page.url.startswith(ADMIN + "/")


def fault(mode):
    """From now on the IdP tampers with its ID tokens so (`none`: no more)."""
    assert ISSUER, "a fault needs the IdP's issuer URL"
    req = urllib.request.Request(f"{ISSUER}/_fault?mode={mode}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 204), r.status


def session_status(page):
    return page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).status")


def run(browser, n, case, errors):
    """One case, in a browser context of its own; whether the IdP's sign-out was reached."""
    name = f"{n}-{case['login']}-{case.get('fault') or case.get('error') or 'ok'}"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    if case.get("fault"):
        fault(case["fault"])
    try:
        # The sign-in page offers single sign-on, labelled as the config says.
        page.goto(ADMIN + "/")
        page.wait_for_selector("#signin:not([hidden])")
        page.wait_for_selector("#sso-link:not([hidden])")
        assert page.get_attribute("#sso-link", "href") == "/console/sso", page.get_attribute("#sso-link", "href")
        assert page.inner_text("#sso-link").strip(), "the single sign-on link has no text"
        if n == 0:
            shot(page, "signin-sso")

        # To the IdP's login page; a wrong password is refused there.
        page.click("#sso-link")
        page.wait_for_selector(IDP_LOGIN)
        assert not on_console(page), page.url
        if case.get("wrong_first"):
            page.fill(IDP_LOGIN, case["login"])
            page.fill('input[name="password"]', case["password"] + "-wrong")
            page.click('button[type="submit"]')
            page.wait_for_selector("#error")
            shot(page, f"{name}-idp-refused")
        page.fill(IDP_LOGIN, case["login"])
        page.fill('input[name="password"]', case["password"])
        page.click('button[type="submit"]')

        if case.get("error"):
            # Back on the sign-in page, which says why; no session.
            page.wait_for_selector("#signin:not([hidden]) #signin-error:not([hidden])")
            assert on_console(page) and f"sso={case['error']}" in page.url, (page.url, case)
            said = page.inner_text("#signin-error").strip()
            assert said and "failed (" not in said, (said, case)
            assert page.is_hidden("#app"), case
            assert session_status(page) == 401, case
            shot(page, name)
            return False

        # Back on the console, signed in as expected.
        page.wait_for_selector("#app:not([hidden])")
        page.wait_for_selector("#page > [id^='view-']")
        assert on_console(page) and "sso=" not in page.url, page.url
        actor = page.inner_text("#actor").strip()
        assert actor == case["expect"], (actor, case)
        session = page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).json()")
        assert session["via"] == "session", session
        shot(page, f"{name}-signed-in")

        # Signing out: through the IdP's confirmation when the gateway sends the browser there.
        page.click("#signout button")
        page.wait_for_selector(f"{IDP_LOGOUT}, #signin:not([hidden])")
        at_idp = not on_console(page)
        if at_idp:
            shot(page, f"{name}-idp-logout")
            page.click(IDP_LOGOUT)
        page.wait_for_selector("#signin:not([hidden])")
        assert on_console(page), page.url
        assert session_status(page) == 401, case
        shot(page, f"{name}-signed-out")
        return at_idp
    finally:
        if case.get("fault"):
            fault("none")
        context.close()


with sync_playwright() as p:
    browser = helpers.launch(p)
    errors = []
    reached = [run(browser, n, case, errors) for n, case in enumerate(CASES)]
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, csp
    browser.close()
signed_in = [c for c in CASES if not c.get("error")]
# Every sign-out after single sign-on ends the IdP's session too (RP-initiated logout).
assert sum(reached) == len(signed_in), (sum(reached), len(signed_in))
print(f"sso ok ({len(CASES)} cases; the IdP's sign-out reached after {sum(reached)} of {len(signed_in)} sign-ins)")
