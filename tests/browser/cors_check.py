"""A browser application calling the gateway directly, from pages on other origins, in
a real headless Chromium.

python3 cors_check.py API_URL APP_PORT OTHER_PORT KEY LOCKED_KEY

Serves an empty page on http://127.0.0.1:APP_PORT (an origin `[server.cors]` allows)
and on http://127.0.0.1:OTHER_PORT (one no list names), and from each calls
`POST API_URL/v1/chat/completions` with `fetch` as a page's script would (a bearer
token and JSON: the browser sends a preflight first). From the app's page the answer
arrives and the page can read `x-switchboard-overhead-ms` (exposed); from the other
page the browser refuses to hand over the answer; LOCKED_KEY, a key that allows only
a page elsewhere, is refused from the app's page with a 403 the page can read.
Prints `cors ok`; exits non-zero on the first expectation that does not hold.
"""

import http.server
import json
import sys
import threading

from playwright.sync_api import sync_playwright

import browser_helpers as helpers

API, APP_PORT, OTHER_PORT, KEY, LOCKED = sys.argv[1:6]


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>app</title><p>app</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


for port in (APP_PORT, OTHER_PORT):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()

CALL = """async ([api, key]) => {
  try {
    const r = await fetch(api + "/v1/chat/completions", {
      method: "POST",
      headers: { "authorization": "Bearer " + key, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "from a page" }] }),
    });
    return { status: r.status, body: await r.json(), overhead: r.headers.get("x-switchboard-overhead-ms") };
  } catch (e) {
    return { failed: String(e) };
  }
}"""

with sync_playwright() as p:
    browser = helpers.launch(p)
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{APP_PORT}/")
    got = page.evaluate(CALL, [API, KEY])
    assert got.get("status") == 200, f"from the app's page: {got}"
    text = got["body"]["choices"][0]["message"]["content"]
    assert "from a page" in text, got
    assert got["overhead"] is not None and float(got["overhead"]) >= 0, f"not exposed: {got}"
    locked = page.evaluate(CALL, [API, LOCKED])
    assert locked.get("status") == 403, f"a key for another page: {locked}"
    assert locked["body"]["error"]["code"] == "origin_not_allowed", locked
    page.goto(f"http://127.0.0.1:{OTHER_PORT}/")
    other = page.evaluate(CALL, [API, KEY])
    assert "failed" in other, f"the browser handed an answer to a page not allowed: {other}"
    print(json.dumps({"app": got["status"], "locked": locked["status"], "other": other["failed"]}))
    browser.close()
print("cors ok")
