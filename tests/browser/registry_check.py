"""The console's registry pages (models, providers, prompts) in a real headless Chromium.

Run by the registry suite against a gateway it started beside an OpenAI-wire mock provider:
python3 registry_check.py ADMIN_URL API_URL ADMIN_TOKEN SCREENSHOT_DIR MOCK_BASE_URL
PROVIDER_KEY CLIENT_KEY — MOCK_BASE_URL and PROVIDER_KEY are the mock's (it answers 401 to
any other bearer key), CLIENT_KEY is a gateway key for the chat call (empty: the gateway is
open). An operator adds a provider with its key, makes a model on it, tests it as a draft,
activates it and a client is served by it; edits it (a new version); edits the provider
with a wrong key (refused at the field, the provider still serves) and the right one
(verified); then a prompt. Exits non-zero (an AssertionError) on the first expectation
that does not hold.
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

import browser_helpers as helpers
from browser_helpers import call

ADMIN, API, TOKEN, SHOTS, MOCK, PROVIDER_KEY, CLIENT_KEY = sys.argv[1:8]
os.makedirs(SHOTS, exist_ok=True)


def chat(model):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return call(f"{API}/v1/chat/completions", body, CLIENT_KEY or None)


def shot(page, name):
    helpers.shot(page, SHOTS, name)


def open_view(page, view):
    page.goto(f"{ADMIN}/#{view}")
    page.wait_for_selector(f"#view-{view}")
    assert not page.query_selector(f"#view-{view} > p.error"), page.inner_text(f"#view-{view}")


with sync_playwright() as p:
    browser = helpers.launch(p)
    page, errors = helpers.new_page(browser)

    page.goto(ADMIN + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("#token", TOKEN)
    page.click("#signin-button")
    page.wait_for_selector("#view-overview")

    # A provider whose key the mock refuses is not added; the refusal shows on the form.
    open_view(page, "providers")
    page.fill("#provider-name", "acme")
    page.fill("#provider-adapter", "builtin:openai")
    page.fill("#provider-base-url", MOCK)
    page.fill("#provider-key", "sk-not-the-mock-key")
    page.check("#provider-verify")
    page.click("#provider-create")
    page.wait_for_selector("#provider-form .field-error")
    assert not page.query_selector('tr[data-provider="acme"]'), "a provider with a refused key was added"

    # With the mock's key it is verified and added; the key is never shown back.
    page.fill("#provider-key", PROVIDER_KEY)
    page.click("#provider-create")
    page.wait_for_selector('tr[data-provider="acme"][data-credential="set"]')
    assert not page.query_selector("#provider-form .field-error"), page.inner_text("#provider-form")
    verification = page.inner_text("#provider-verification")
    assert "acme added; verified" in verification, verification
    row = page.inner_text('tr[data-provider="acme"]')
    assert "set" in row and MOCK in row, row
    assert page.input_value("#provider-key") == ""
    assert PROVIDER_KEY not in page.inner_text("body"), "the provider key is on the page"
    assert PROVIDER_KEY not in page.content(), "the provider key is in the page's markup"
    _, _, listed = call(f"{ADMIN}/admin/providers", token=TOKEN)
    assert PROVIDER_KEY not in json.dumps(listed), "the admin API shows the provider key"
    shot(page, "providers")

    # A provider removed after the page was drawn: the model form's refusal is shown at
    # the provider input, and no model is made.
    status, _, body = call(f"{ADMIN}/admin/providers", {
        "name": "gone", "adapter": "builtin:openai", "base_url": MOCK,
        "api_key": "sk-gone-0000", "verify": False}, TOKEN)
    assert status == 201, (status, body)
    open_view(page, "models")
    page.select_option("#model-provider", "gone")
    status, _, body = call(f"{ADMIN}/admin/providers/gone", token=TOKEN, method="DELETE")
    assert status == 200, (status, body)
    page.fill("#model-name", "stale-chat")
    page.fill("#model-upstream", "gpt-4o-mini")
    page.click("#model-create")
    page.wait_for_selector("#model-provider-error.field-error")
    near = page.evaluate("""() => {
        const e = document.getElementById('model-provider-error');
        return e.parentElement.contains(document.getElementById('model-provider'));
    }""")
    assert near, "the provider's error is not beside the provider input"
    assert page.get_attribute("#model-provider", "aria-invalid") == "true"
    assert not page.query_selector('tr[data-model="stale-chat"]'), "a model on an unknown provider was made"

    # A model on acme starts as a draft; its test reaches the mock.
    page.fill("#model-name", "acme-chat")
    page.select_option("#model-provider", "acme")
    page.fill("#model-upstream", "gpt-4o-mini")
    page.fill("#model-input-price", "0.15")
    page.fill("#model-output-price", "0.6")
    page.fill("#model-tags", "registry-check")
    page.click("#model-create")
    row = 'tr[data-model="acme-chat"]'
    page.wait_for_selector(f'{row}[data-state="draft"]')
    assert not page.query_selector("#model-form .field-error"), page.inner_text("#model-form")
    text = page.inner_text(row)
    assert "acme/gpt-4o-mini" in text and "$0.1500" in text and "draft" in text, text
    page.click(f'{row} button[data-action="test"]')
    page.wait_for_selector("#test-result-acme-chat[data-status]")
    result = page.inner_text("#test-result-acme-chat")
    assert page.get_attribute("#test-result-acme-chat", "data-status") == "ok", result
    assert ": 200 in" in result, result

    # The filters hide and show it.
    page.select_option("#models-filter-state", "retired")
    page.wait_for_selector(row, state="detached")
    page.select_option("#models-filter-state", "")
    page.fill("#models-filter-tag", "registry-check")
    page.wait_for_selector(row)
    page.fill("#models-filter-text", "no-such-model-anywhere")
    page.wait_for_selector(row, state="detached")
    page.fill("#models-filter-text", "")
    page.fill("#models-filter-tag", "")
    page.wait_for_selector(row)

    # Activated, it serves clients.
    page.click(f'{row} button[data-action="activate"]')
    page.wait_for_selector(f'{row}[data-state="active"]')
    status, _, body = chat("acme-chat")
    assert status == 200 and body.get("choices"), (status, body)
    shot(page, "models")

    # Its history: made, then activated, each with what changed and a rollback.
    page.click(f'{row} button[data-action="history"]')
    page.wait_for_selector('#history [data-history="acme-chat"] .version >> nth=1')
    versions = page.query_selector_all("#history .version")
    assert len(versions) >= 2, len(versions)
    assert page.query_selector('#history button[data-action="rollback"]')
    assert "state" in page.inner_text("#history"), page.inner_text("#history")
    shot(page, "history")

    # Edited through its form, prefilled from the row: a successor that names no model is
    # refused at its field; then only the description changes, as a new version whose diff
    # says so (the open history is drawn again).
    top = int(page.get_attribute("#history .version >> nth=0", "data-version"))
    page.click(f'{row} button[data-action="edit"]')
    page.wait_for_selector("#model-edit-form")
    assert page.input_value("#model-edit-upstream") == "gpt-4o-mini", page.input_value("#model-edit-upstream")
    assert page.input_value("#model-edit-provider") == "acme", page.input_value("#model-edit-provider")
    assert float(page.input_value("#model-edit-input-price")) == 0.15, page.input_value("#model-edit-input-price")
    assert page.input_value("#model-edit-tags") == "registry-check", page.input_value("#model-edit-tags")
    assert page.input_value("#model-edit-description") == ""
    page.fill("#model-edit-successor", "no-such-model-anywhere")
    page.click("#model-edit-save")
    page.wait_for_selector("#model-edit-successor-error.field-error")
    assert page.get_attribute("#model-edit-successor", "aria-invalid") == "true"
    assert "no-such-model-anywhere" in page.inner_text("#model-edit-successor-error"), page.inner_text("#model-edit-form")
    page.fill("#model-edit-successor", "")
    page.fill("#model-edit-description", "Support chat, answered by acme")
    page.click("#model-edit-save")
    page.wait_for_selector("#model-edit-form", state="detached")
    page.wait_for_selector(f'{row}[data-state="active"]')
    assert "Support chat, answered by acme" in page.inner_text(row), page.inner_text(row)
    assert f"v{top + 1}" in page.inner_text(row), page.inner_text(row)
    newest = f'#history [data-history="acme-chat"] .version[data-version="{top + 1}"]'
    page.wait_for_selector(newest)
    text = page.inner_text(newest)
    assert "description" in text and "Support chat, answered by acme" in text, text
    _, _, made = call(f"{ADMIN}/admin/models/acme-chat/versions", token=TOKEN)
    assert [d["path"] for d in made["versions"][0]["diff"]] == ["description"], made["versions"][0]
    status, _, body = chat("acme-chat")
    assert status == 200 and body.get("choices"), (status, body)

    # The provider's edit form: the key input is never prefilled. A wrong key with the
    # check on is refused at the key input; nothing changes and the provider still serves.
    open_view(page, "providers")
    prow = 'tr[data-provider="acme"]'
    _, _, before = call(f"{ADMIN}/admin/providers/acme", token=TOKEN)
    page.click(f'{prow} button[data-action="edit"]')
    page.wait_for_selector("#provider-edit-form")
    assert page.input_value("#provider-edit-base-url") == MOCK, page.input_value("#provider-edit-base-url")
    assert page.get_attribute("#provider-edit-key", "type") == "password"
    assert page.input_value("#provider-edit-key") == ""
    assert page.is_checked("#provider-edit-verify")
    page.fill("#provider-edit-key", "sk-wrong-key-for-acme-0000")
    page.click("#provider-edit-save")
    page.wait_for_selector("#provider-edit-key-error.field-error")
    assert page.get_attribute("#provider-edit-key", "aria-invalid") == "true"
    result = page.inner_text("#provider-edit-result")
    assert "not saved" in result, result
    assert page.input_value("#provider-edit-key") == "", "the key input was not cleared"
    _, _, after = call(f"{ADMIN}/admin/providers/acme", token=TOKEN)
    assert after["version"] == before["version"], (before, after)
    assert after["credential"]["last4"] == before["credential"]["last4"], (before, after)
    status, _, body = chat("acme-chat")
    assert status == 200 and body.get("choices"), ("a refused key changed the provider", status, body)
    shot(page, "edit")

    # The right key: verified with one call, saved as a new version, the input emptied.
    page.fill("#provider-edit-key", PROVIDER_KEY)
    page.click("#provider-edit-save")
    page.wait_for_selector("#provider-edit-result.good")
    result = page.inner_text("#provider-edit-result")
    assert "verified" in result and "not verified" not in result, result
    assert not page.query_selector("#provider-edit-form .field-error"), page.inner_text("#provider-edit-form")
    assert page.input_value("#provider-edit-key") == "", "the key input was not cleared"
    page.wait_for_selector(f'{prow}[data-credential="set"]')
    _, _, after = call(f"{ADMIN}/admin/providers/acme", token=TOKEN)
    assert after["version"] > before["version"], (before, after)
    status, _, body = chat("acme-chat")
    assert status == 200 and body.get("choices"), (status, body)
    assert PROVIDER_KEY not in page.inner_text("body"), "the provider key is on the page"
    assert PROVIDER_KEY not in page.content(), "the provider key is in the page's markup"

    # A prompt with its variables.
    open_view(page, "prompts")
    page.fill("#prompt-name", "greet")
    page.fill("#prompt-model", "acme-chat")
    page.fill("#prompt-system", "You are terse.")
    page.fill("#prompt-template", "Say hello to {{name}} in {{ language }}.")
    assert "name, language" in page.inner_text("#prompt-vars"), page.inner_text("#prompt-vars")
    page.click("#prompt-create")
    page.wait_for_selector('tr[data-prompt="greet"]')
    text = page.inner_text('tr[data-prompt="greet"]')
    assert "acme-chat" in text and "name, language" in text, text
    shot(page, "prompts")

    # Never, anywhere: the provider key is not on the page nor in its markup.
    assert PROVIDER_KEY not in page.inner_text("body"), "the provider key is on the page"
    assert PROVIDER_KEY not in page.content(), "the provider key is in the page's markup"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    browser.close()
print("registry ok")
