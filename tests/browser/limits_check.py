"""A key's limits and its own budget on the Keys page, in a real headless Chromium.

python3 limits_check.py ADMIN_URL SCREENSHOT_DIR USER PASSWORD KEY_NAME EXPECT_LIMIT [ABOVE_CAP]

USER signs in with their password and opens the Keys page; the row of virtual key
KEY_NAME has a Limits button (for every role that sees the key) that draws, below the
keys, the card `#key-limits`: the budgets, token quotas and request limits that follow
the key (`GET /admin/keys/{id}/limits`), one row each. The first budget's limit reads
EXPECT_LIMIT (as shown: "0.0400" matches "$0.0400"). A team member and a viewer see no
"Set budget" control. When USER is a team admin and ABOVE_CAP is given, setting the key's
own budget to ABOVE_CAP from its row is refused with the API's reason (above the team's
cap), shown in `#keys-msg`, and the key's budget stays as it was. Screenshots:
`limits.png` (and `limits-cap.png`). Exits non-zero (an AssertionError or a Playwright
timeout) on the first expectation that does not hold; prints `limits ok` at the end.
"""

import os
import sys

from playwright.sync_api import sync_playwright

import browser_helpers as helpers

if len(sys.argv) < 7:
    sys.exit(__doc__.strip().splitlines()[2])
ADMIN = sys.argv[1].rstrip("/")
SHOTS, USER, PASSWORD, KEY, EXPECT_LIMIT = sys.argv[2:7]
ABOVE_CAP = sys.argv[7] if len(sys.argv) > 7 and sys.argv[7] else None
SHOTS = SHOTS or os.path.join(os.getcwd(), "target", "limits-screens")
os.makedirs(SHOTS, exist_ok=True)
ROW = f'tr[data-key="{KEY}"]'


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def sign_in(page, name, password):
    helpers.sign_in(page, ADMIN, name, password)


def key_budget(page):
    """KEY's own budget as `GET /admin/keys` has it, read with the page's session."""
    return page.evaluate("""async (name) => {
        const r = await fetch('/admin/keys', { credentials: 'same-origin' });
        const v = await r.json();
        const k = (v.keys || []).find((k) => k.name === name && !k.revoked_at);
        return k ? [true, k.budget === undefined ? null : k.budget] : [false, null];
    }""", KEY)


with sync_playwright() as p:
    browser = helpers.launch(p)
    page, errors = helpers.new_page(browser)
    page.set_default_timeout(20000)

    sign_in(page, USER, PASSWORD)
    actor = page.inner_text("#actor").strip()
    role = actor.rsplit(" · ", 1)[-1] if " · " in actor else ""
    assert actor.startswith(f"{USER} · "), actor

    page.goto(f"{ADMIN}/#keys")
    page.wait_for_selector("#view-keys")
    assert not page.query_selector("#view-keys > p.error"), page.inner_text("#view-keys")
    page.wait_for_selector(ROW)
    assert "own budget" in page.inner_text("#keys-list thead"), page.inner_text("#keys-list thead")

    # The Limits button is everyone's; the card below the keys names the key.
    assert page.is_visible(f'{ROW} button[data-action="limits"]'), "no Limits button on the key's row"
    assert page.is_hidden("#key-limits"), "the limits card is shown before it is asked for"
    page.click(f'{ROW} button[data-action="limits"]')
    page.wait_for_selector("#key-limits tr[data-policy]")
    heading = page.inner_text("#key-limits h2")
    assert KEY in heading, heading
    budgets = page.eval_on_selector_all(
        '#key-limits tr[data-kind="budget"]',
        "rows => rows.map((r) => [...r.children].map((c) => c.textContent))")
    assert budgets, page.inner_text("#key-limits")
    assert EXPECT_LIMIT in budgets[0][2], (EXPECT_LIMIT, budgets[0])
    shot(page, "limits")

    # Setting a key's own budget: an admin's, an operator's, a team admin's.
    control = f'{ROW} button[data-action="budget"]'
    if role.startswith("team-member") or role == "viewer":
        assert not page.is_visible(control), f"a {role} sees the Set budget control"
        assert not page.is_visible("#key-budget"), f"a {role} sees the own-budget field"
    elif role.startswith("team-admin"):
        assert page.is_visible(control), "a team admin does not see the Set budget control"
        if ABOVE_CAP:
            found, before = key_budget(page)
            assert found, f"GET /admin/keys does not list {KEY}"
            page.fill(f'{ROW} input[name="budget"]', ABOVE_CAP)
            page.click(control)
            page.wait_for_selector("#keys-msg.error:not([hidden])")
            said = page.inner_text("#keys-msg")
            assert "cap" in said, said
            _, after = key_budget(page)
            assert after == before, (before, after)
            shot(page, "limits-cap")

    assert not [e for e in errors if "Content Security Policy" in e], errors
    browser.close()
print("limits ok")
