// Drives switchboard with the Vercel AI SDK's default OpenAI provider (which speaks the
// Responses API) and prints what it saw as JSON.
// Run by tests/suite/responses.rs: node vercel_ai_check.mjs BASE_URL API_KEY
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';

const [baseURL, apiKey] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey });
const out = {};

const r = await generateText({ model: openai('m'), prompt: 'hello vercel' });
out.text = r.text;
out.usage = [r.usage.inputTokens, r.usage.outputTokens];

// A second turn after a text answer: the SDK sends that answer back as an
// `item_reference` (it stores responses by default).
const next = await generateText({
  model: openai('m'),
  messages: [{ role: 'user', content: 'hello vercel' }, ...r.response.messages, { role: 'user', content: 'and more' }],
});
out.next = next.text;

const s = streamText({ model: openai('claude'), prompt: 'streamed words' });
let text = '';
for await (const d of s.textStream) text += d;
out.stream_text = text;
out.stream_usage = (await s.usage).totalTokens;

const weather = tool({
  description: 'Weather for a city',
  inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
  execute: async ({ city }) => `18C in ${city}`,
});
const t = await generateText({
  model: openai('m'), prompt: 'Weather?', tools: { get_weather: weather }, stopWhen: stepCountIs(3),
});
out.tool_inputs = t.steps[0].toolCalls.map((c) => c.input);
out.after_tools = t.text;

console.log(JSON.stringify(out));
