"""What the browser checks share: Debian's Chromium launched as the machine allows, a
JSON call to the gateway, signing in with a password, and a screenshot."""

import json
import os
import urllib.error
import urllib.request


def call(url, body=None, token=None, method=None):
    """`method url` (POST when there is a body) with `token` as the bearer: its status,
    headers and JSON body (None when empty)."""
    req = urllib.request.Request(url, method=method or ("POST" if body is not None else "GET"))
    if token:
        req.add_header("authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, data, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def shot(page, shots, name):
    """A full-page screenshot of `page` as `shots/name.png`."""
    page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=True)


def launch(p):
    """Debian's Chromium (headless, no sandbox as root, nothing fetched from elsewhere)."""
    return p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    )


def new_page(browser):
    """A console-sized page, and the list its console errors are collected in."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


def sign_in(page, admin, name, password):
    """The console's password form; returns once the console is drawn."""
    page.goto(admin + "/")
    page.wait_for_selector("#password-form:not([hidden])")
    page.fill("#login-user", name)
    page.fill("#login-password", password)
    with page.expect_navigation():
        page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#page > [id^='view-']")
