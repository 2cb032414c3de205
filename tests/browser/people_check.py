"""People, roles and one's own account in the console, in a real headless Chromium.

python3 people_check.py ADMIN_URL SCREENSHOT_DIR VIEWER VIEWER_PASSWORD ADMIN ADMIN_PASSWORD
(any argument left out is read from the environment: PEOPLE_SCREENSHOTS, PEOPLE_VIEWER,
PEOPLE_VIEWER_PASSWORD, PEOPLE_ADMIN, PEOPLE_ADMIN_PASSWORD). VIEWER and ADMIN are local
accounts (`switchboard users add`) with the roles viewer and admin; the gateway has
`[store]`, at least one route, and the admin token may be on or off.

A viewer signs in with their password: the header says so, every page they may read
shows no control that changes anything, and such changes sent from the page anyway are
refused (403). The admin sees the viewer on the People page, adds an account there,
changes its role, disables and enables it; makes a personal API token with the role
viewer on My account (its secret shown once, and it signs in as a viewer), and revokes
it. Five wrong passwords lock the added account, which the sign-in page says. Exits
non-zero (an AssertionError) on the first expectation that does not hold; prints
`people ok` at the end.
"""

import os
import sys

from playwright.sync_api import sync_playwright

import browser_helpers as helpers
from browser_helpers import call

ENV = ["PEOPLE_SCREENSHOTS", "PEOPLE_VIEWER", "PEOPLE_VIEWER_PASSWORD", "PEOPLE_ADMIN", "PEOPLE_ADMIN_PASSWORD"]
given = sys.argv[2:]
ADMIN = sys.argv[1].rstrip("/")
SHOTS, VIEWER, VIEWER_PASSWORD, PERSON, PERSON_PASSWORD = (
    given[i] if i < len(given) and given[i] else os.environ.get(k, "") for i, k in enumerate(ENV))
assert VIEWER and VIEWER_PASSWORD and PERSON and PERSON_PASSWORD, "the viewer's and the admin's names and passwords are needed"
SHOTS = SHOTS or os.path.join(os.getcwd(), "target", "people-screens")
os.makedirs(SHOTS, exist_ok=True)
# The account this check adds, then locks (unique per run: a store may be reused).
LOCKED = f"people-check-{os.getpid()}"
LOCKED_PASSWORD = "people-check-password-1"
# Pages a viewer may read whose controls change something.
READ_PAGES = ["routes", "models", "providers", "keys", "config"]


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def open_view(page, view):
    page.goto(f"{ADMIN}/#{view}")
    page.wait_for_selector(f"#view-{view}")
    assert not page.query_selector(f"#view-{view} > p.error"), page.inner_text(f"#view-{view}")


def sign_in(page, name, password):
    helpers.sign_in(page, ADMIN, name, password)


def sign_out(page):
    page.click("#signout button")
    page.wait_for_selector("#signin:not([hidden])")
    status = page.evaluate("async () => (await fetch('/admin/session', { credentials: 'same-origin' })).status")
    assert status == 401, status


def visible_needs(page):
    """The controls marked with what they need that a person can see."""
    return [e.evaluate("e => e.outerHTML.slice(0, 160)") for e in page.query_selector_all("[data-needs]") if e.is_visible()]


with sync_playwright() as p:
    browser = helpers.launch(p)
    page, errors = helpers.new_page(browser)

    # The sign-in page offers the password form first.
    page.goto(ADMIN + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.wait_for_selector("#password-form:not([hidden])")
    assert page.is_hidden("#signin-error"), page.inner_text("#signin-error")
    shot(page, "signin-password")

    # ---- the viewer ----
    sign_in(page, VIEWER, VIEWER_PASSWORD)
    actor = page.inner_text("#actor").strip()
    assert actor == f"{VIEWER} · viewer", actor
    assert page.evaluate("document.body.dataset.role") == "viewer"
    assert page.is_hidden('#nav a[href="#people"]'), "a viewer sees the People link"
    assert page.is_visible('#nav a[href="#account"]') and page.is_visible('#nav a[href="#routes"]')
    for view in READ_PAGES:
        open_view(page, view)
        marked = page.query_selector_all("[data-needs]")
        assert marked, f"the {view} page marks no control with what it needs"
        shown = visible_needs(page)
        assert not shown, (view, shown)
        shot(page, f"viewer-{view}")
    # The People page is not drawn for a viewer: the console goes to its home page.
    page.goto(f"{ADMIN}/#people")
    page.wait_for_selector("#view-overview")

    # Changes sent from the page anyway, with the session's CSRF token: refused by role.
    refused = page.evaluate("""async () => {
        const s = await (await fetch('/admin/session', { credentials: 'same-origin' })).json();
        const send = async (path, body) => {
            const r = await fetch(path, { method: 'POST', credentials: 'same-origin',
                headers: { 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
                body: JSON.stringify(body) });
            const v = await r.json().catch(() => ({}));
            return [path, r.status, (v.error || {}).code || null];
        };
        return [
            await send('/admin/overrides', { route: 'm', provider: 'p', model: 'x', enabled: false }),
            await send('/admin/models', { name: 'viewer-made', targets: [{ provider: 'p', model: 'x' }] }),
            await send('/admin/keys', { name: 'viewer-made' }),
        ];
    }""")
    for path, status, code in refused:
        assert status == 403 and code == "role_forbidden", (path, status, code)
    sign_out(page)

    # ---- the admin ----
    sign_in(page, PERSON, PERSON_PASSWORD)
    actor = page.inner_text("#actor").strip()
    assert actor == f"{PERSON} · admin", actor
    assert page.is_visible('#nav a[href="#people"]'), "an admin does not see the People link"
    open_view(page, "people")
    row = f'tr[data-person="{VIEWER}"]'
    page.wait_for_selector(row)
    assert "viewer" in page.inner_text(row), page.inner_text(row)

    # An account added on the page; its role changed; disabled and enabled again.
    page.fill("#person-name", LOCKED)
    page.fill("#person-role", "viewer")
    page.fill("#person-password", "short")
    page.click("#person-add")
    page.wait_for_selector("#people-msg.error")
    assert not page.query_selector(f'tr[data-person="{LOCKED}"]'), "a person with a short password was added"
    page.fill("#person-password", LOCKED_PASSWORD)
    page.click("#person-add")
    added = f'tr[data-person="{LOCKED}"]'
    page.wait_for_selector(f'{added}[data-role="viewer"][data-state="active"]')
    page.fill(f'{added} input[list="person-roles"]', "operator")
    page.click(f'{added} button[data-action="role"]')
    page.wait_for_selector(f'{added}[data-role="operator"]')
    page.click(f'{added} button[data-action="disable"]')
    page.wait_for_selector(f'{added}[data-state="disabled"] button[data-action="enable"]')
    page.click(f'{added} button[data-action="enable"]')
    page.wait_for_selector(f'{added}[data-state="active"] button[data-action="disable"]')
    _, _, listed = call(f"{ADMIN}/console/methods")
    assert listed["password"] is True, listed
    shot(page, "people")

    # A personal token with the role viewer: its secret shown once; it signs in as a viewer.
    open_view(page, "account")
    page.wait_for_selector("#new-token-form")
    assert page.input_value("#token-role") == "admin", page.input_value("#token-role")
    page.fill("#token-label", "people-check")
    page.fill("#token-role", "viewer")
    page.fill("#token-days", "1")
    page.click("#token-create")
    page.wait_for_selector("#token-secret.secret")
    secret = page.inner_text("#token-secret").strip()
    token_id = page.get_attribute("#token-secret", "data-token-id")
    assert secret.startswith("sbp_"), secret
    grant = f'tr[data-grant="{token_id}"]'
    page.wait_for_selector(f'{grant}[data-state="live"]')
    assert "viewer" in page.inner_text(grant), page.inner_text(grant)
    status, _, who = call(f"{ADMIN}/admin/session", token=secret)
    assert status == 200 and who["role"] == "viewer" and who["via"] == "token", (status, who)
    shot(page, "account")
    # Shown once: drawn again, the page has it no more.
    open_view(page, "keys")
    open_view(page, "account")
    page.wait_for_selector(f'{grant}[data-state="live"]')
    assert not page.query_selector("#token-secret"), "the token's secret is shown again"
    assert secret not in page.content(), "the token's secret is in the page's markup"
    # Revoked, it signs in no more.
    page.click(f'button[data-token="{token_id}"]')
    page.wait_for_selector(grant, state="detached")
    page.check("#show-ended")
    page.wait_for_selector(f'{grant}[data-state="revoked"]')
    status, _, _ = call(f"{ADMIN}/admin/session", token=secret)
    assert status == 401, status
    sign_out(page)

    # ---- five wrong passwords lock an account ----
    for attempt in range(1, 6):
        page.wait_for_selector("#password-form:not([hidden])")
        page.fill("#login-user", LOCKED)
        page.fill("#login-password", f"not-the-password-{attempt}")
        with page.expect_navigation():
            page.click("#login-button")
        page.wait_for_selector("#signin-error:not([hidden])")
        assert page.is_hidden("#app"), "a wrong password signed in"
    said = page.inner_text("#signin-error")
    assert "locked for 15 minutes" in said, said
    assert "locked" in page.url, page.url
    shot(page, "locked")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    browser.close()
print("people ok")
