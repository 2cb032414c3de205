"""Drives switchboard's /v1/messages with the official Anthropic Python SDK and prints
what it saw as JSON.

Run by tests/suite/messages.rs: python3 anthropic_sdk_check.py BASE_URL API_KEY
"""
import json
import sys

import anthropic

base_url, api_key = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
out = {"sdk_version": anthropic.__version__}

# A plain answer, through an OpenAI-compatible provider.
m = client.messages.create(
    model="m", max_tokens=64, system="Be brief.",
    messages=[{"role": "user", "content": "hello sdk"}],
)
out["text"] = m.content[0].text
out["stop_reason"] = m.stop_reason
out["usage"] = [m.usage.input_tokens, m.usage.output_tokens]

# A stream, through the Anthropic provider (Anthropic -> OpenAI -> Anthropic).
with client.messages.stream(
    model="claude", max_tokens=64,
    messages=[{"role": "user", "content": "streamed words"}],
) as s:
    out["stream_text"] = "".join(s.text_stream)
    final = s.get_final_message()
out["stream_stop"] = final.stop_reason
out["stream_output_tokens"] = final.usage.output_tokens

# Tools: the model calls two, the SDK parses their inputs; then the results go back.
tools = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
ask = [{"role": "user", "content": "Weather?"}]
m = client.messages.create(model="m", max_tokens=64, tools=tools, messages=ask)
uses = [b for b in m.content if b.type == "tool_use"]
out["tool_inputs"] = [u.input for u in uses]
out["tool_stop"] = m.stop_reason
with client.messages.stream(model="m", max_tokens=64, tools=tools, messages=ask) as s:
    final = s.get_final_message()
out["stream_tool_inputs"] = [b.input for b in final.content if b.type == "tool_use"]
follow = ask + [
    {"role": "assistant", "content": m.content},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": u.id, "content": "18C"} for u in uses
    ]},
]
m = client.messages.create(model="m", max_tokens=64, tools=tools, messages=follow)
out["after_tools"] = m.content[0].text

# Errors arrive as the SDK's own classes.
try:
    client.messages.create(model="nope", max_tokens=8, messages=ask)
except anthropic.NotFoundError as e:
    out["not_found"] = e.body["error"]["type"]
try:
    anthropic.Anthropic(base_url=base_url, api_key="wrong", max_retries=0).messages.create(
        model="m", max_tokens=8, messages=ask)
except anthropic.AuthenticationError as e:
    out["bad_key"] = e.body["error"]["type"]

print(json.dumps(out))
