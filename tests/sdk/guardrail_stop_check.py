"""Streams an answer a guardrail stops mid-way through switchboard, with the official
OpenAI and Anthropic Python SDKs, and prints what each SDK made of it as JSON: the text
it yielded before, and the exception it raised (its class, status, message, code).

Run by tests/suite/guardrails.rs: python3 guardrail_stop_check.py BASE_URL API_KEY
"""
import json
import sys

import anthropic
import openai

base_url, api_key = sys.argv[1], sys.argv[2]
out = {}

client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0)
text = []
try:
    stream = client.chat.completions.create(
        model="stopped", stream=True, messages=[{"role": "user", "content": "card?"}]
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    out["openai"] = {"raised": None}
except openai.APIError as e:
    out["openai"] = {
        "raised": type(e).__name__,
        "message": e.message,
        "code": getattr(e, "code", None),
    }
out["openai"]["text"] = "".join(text)

client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
text = []
try:
    with client.messages.stream(
        model="claude-stopped", max_tokens=64, messages=[{"role": "user", "content": "card?"}]
    ) as s:
        for t in s.text_stream:
            text.append(t)
    out["anthropic"] = {"raised": None}
except anthropic.APIError as e:
    out["anthropic"] = {"raised": type(e).__name__, "message": e.message}
out["anthropic"]["text"] = "".join(text)

print(json.dumps(out))
