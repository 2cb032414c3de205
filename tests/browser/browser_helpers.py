"""What the browser checks share: a JSON call to the gateway, and a screenshot."""

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
