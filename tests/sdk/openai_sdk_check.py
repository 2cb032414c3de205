"""Drives switchboard with the official OpenAI Python SDK and prints what it saw as JSON.

Run by tests/openai_sdk.rs: python3 openai_sdk_check.py BASE_URL API_KEY
"""
import json
import sys

import openai
from openai import OpenAI

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
out = {"sdk_version": openai.__version__}

r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello sdk"}])
out["text"] = r.choices[0].message.content
out["usage_total"] = r.usage.total_tokens

chunks = client.chat.completions.create(
    model="claude", messages=[{"role": "user", "content": "streamed words"}],
    stream=True, stream_options={"include_usage": True},
)
text, usage = "", None
for c in chunks:
    if c.choices and c.choices[0].delta.content:
        text += c.choices[0].delta.content
    if c.usage:
        usage = c.usage.total_tokens
out["stream_text"], out["stream_usage"] = text, usage

tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "weather?"}], tools=tools)
out["tool_args"] = [json.loads(t.function.arguments) for t in r.choices[0].message.tool_calls]

e = client.embeddings.create(model="m", input=["a", "b"])
out["embeddings"] = len(e.data)
out["models"] = sorted(m.id for m in client.models.list())

try:
    client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    out["not_found"] = None
except openai.NotFoundError as err:
    out["not_found"] = err.body.get("code") if isinstance(err.body, dict) else str(err.body)

try:
    OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    out["bad_key"] = None
except openai.AuthenticationError:
    out["bad_key"] = "authentication_error"

print(json.dumps(out))
