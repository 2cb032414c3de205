"""Drives switchboard's /v1/responses with the official OpenAI Python SDK and prints
what it saw as JSON.

Run by tests/suite/responses.rs: python3 responses_check.py BASE_URL API_KEY
"""
import json
import sys

import openai
from openai import OpenAI

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
out = {"sdk_version": openai.__version__}

r = client.responses.create(model="m", instructions="Be brief.", input="hello responses")
out["text"] = r.output_text
out["status"] = r.status
out["usage"] = [r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens]
out["id_prefix"] = r.id.split("_")[0]

# A stream through the Anthropic provider (Responses -> chat -> Anthropic and back).
text = ""
with client.responses.stream(model="claude", input="streamed words") as s:
    for ev in s:
        if ev.type == "response.output_text.delta":
            text += ev.delta
    final = s.get_final_response()
out["stream_text"] = text
out["stream_final_text"] = final.output_text
out["stream_usage"] = final.usage.total_tokens

# A function tool round trip: the calls, then their outputs sent back as items.
tools = [{
    "type": "function", "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]
ask = [{"role": "user", "content": "Weather?"}]
r = client.responses.create(model="m", input=ask, tools=tools)
calls = [o for o in r.output if o.type == "function_call"]
out["calls"] = [json.loads(c.arguments) for c in calls]
follow = ask + [c.model_dump(exclude_none=True) for c in calls] + [
    {"type": "function_call_output", "call_id": c.call_id, "output": "18C"} for c in calls
]
r = client.responses.create(model="m", input=follow, tools=tools)
out["after_tools"] = r.output_text

# Streamed function calls, through the Anthropic provider.
with client.responses.stream(model="claude", input=ask, tools=tools) as s:
    final = s.get_final_response()
out["stream_calls"] = [json.loads(o.arguments) for o in final.output if o.type == "function_call"]

# A stored conversation continued by id, read back, deleted.
first = client.responses.create(model="m", input="remember me")
second = client.responses.create(model="m", previous_response_id=first.id, input="and again")
out["continued"] = second.output_text
out["retrieved"] = client.responses.retrieve(first.id).output_text
client.responses.delete(first.id)
try:
    client.responses.retrieve(first.id)
    out["after_delete"] = None
except openai.NotFoundError:
    out["after_delete"] = "not_found"

try:
    client.responses.create(model="m", input="x", tools=[{"type": "web_search"}])
    out["builtin_tool"] = None
except openai.BadRequestError as err:
    out["builtin_tool"] = err.message

# Passed through to an OpenAI target: a built-in tool, a stream, a continuation kept there.
r = client.responses.create(model="native", input="search", tools=[{"type": "web_search"}])
out["native_types"] = [o.type for o in r.output]
text = ""
with client.responses.stream(model="native", input="streamed natively") as s:
    for ev in s:
        if ev.type == "response.output_text.delta":
            text += ev.delta
    final = s.get_final_response()
out["native_stream"] = text
out["native_usage"] = [final.usage.input_tokens, final.usage.output_tokens]
r = client.responses.create(model="native", previous_response_id="resp_at_openai", input="on")
out["native_continued"] = r.output_text

# The rest of the surface, forwarded to the same OpenAI target.
m = client.moderations.create(model="native", input="hi")
out["moderation_flagged"] = m.results[0].flagged
speech = client.audio.speech.create(model="native", voice="alloy", input="hi")
out["speech_bytes"] = len(speech.content)
t = client.audio.transcriptions.create(model="native", file=("a.mp3", b"\x00\x01" * 1000))
out["transcript"] = t.text

# Files and batches, per key, at the provider that keeps them.
f = client.files.create(file=("in.jsonl", b'{"custom_id":"1"}\n'), purpose="batch",
                        extra_headers={"x-switchboard-route": "native"})
out["file_id"] = f.id
out["file_content"] = client.files.content(f.id).text
b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
got = client.batches.retrieve(b.id)
out["batch_status"] = got.status
out["batch_output"] = client.files.content(got.output_file_id).text
out["file_ids"] = sorted(x.id for x in client.files.list())
client.files.delete(f.id)
try:
    client.files.retrieve(f.id)
    out["file_after_delete"] = None
except openai.NotFoundError:
    out["file_after_delete"] = "not_found"

print(json.dumps(out))
