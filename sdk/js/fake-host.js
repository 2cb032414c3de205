// A fake switchboard host for testing a component of any language under Node.js.
//
// `jco transpile plugin.wasm -o gen --map switchboard:plugin/host@0.3.0=<this file>`
// (and the same for `models@0.3.0` and `keyvalue@0.3.0`) turns the component into a
// JavaScript module whose host imports are these functions; a test (`node --test`) then calls its exports directly. Settings are kept
// as JSON text, counters per key and window on a clock the test moves (`advance`),
// log lines captured. u64 values are BigInt, enums strings, as jco maps them.

export const state = {
  settings: new Map(),
  counters: new Map(),
  logs: [],
  now: 1767225600n,
  name: 'test',
  tags: new Map(),
  prices: new Map(),
  shape: { images: false, audio: false, tools: false, jsonOutput: false, messages: 1 },
  answers: new Map(),
  asked: [],
  kv: new Map(),
};

/** Starts a test: these settings (plain values, stored as JSON), no counters or logs. */
export function reset(settings = {}) {
  state.settings = new Map(Object.entries(settings).map(([k, v]) => [k, JSON.stringify(v)]));
  state.counters.clear();
  state.logs.length = 0;
  state.tags.clear();
  state.prices.clear();
  state.shape = { images: false, audio: false, tools: false, jsonOutput: false, messages: 1 };
  state.answers.clear();
  state.asked.length = 0;
  state.kv.clear();
}

/** What `infer` answers on `route` (a route without an answer fails the call). */
export function answer(route, text) {
  state.answers.set(route, text);
}

/** Moves the clock: counters whose window ended start again from zero. */
export function advance(secs) {
  state.now += BigInt(secs);
}

/** Tags for target `provider`/`model` of `route` (what `targetTags` answers). */
export function tag(route, provider, model, tags) {
  state.tags.set(`${route}|${provider}|${model}`, tags);
}

const start = (w) => (w === 0n ? 0n : state.now - (state.now % w));
const key = (k, w) => `${k}|${w}|${start(w)}`;

export function setting(name) {
  return state.settings.get(name);
}
export function log(level, message) {
  state.logs.push([level, message]);
}
export function counterAdd(k, delta, window) {
  const v = (state.counters.get(key(k, window)) ?? 0n) + delta;
  state.counters.set(key(k, window), v);
  return v;
}
export function counterGet(k, window) {
  return state.counters.get(key(k, window)) ?? 0n;
}
export function windowRemainingSecs(window) {
  return window === 0n ? 2n ** 64n - 1n : window - (state.now % window);
}
export function pluginName() {
  return state.name;
}
export function routePrices(route) {
  return state.prices.get(route) ?? [0, 0];
}
export function calendarPeriod(period, zone) {
  throw `the fake host does not compute calendar periods (${period}, ${zone})`;
}
export function targetTags(route, provider, model) {
  return state.tags.get(`${route}|${provider}|${model}`) ?? [];
}
export function currentRequestShape() {
  return state.shape;
}

// `models` (contract 0.3.0): answers as the test set them; embeddings a deterministic
// function of the text.
export function infer(route, messages, params) {
  state.asked.push([route, messages, params]);
  if (!state.answers.has(route)) {
    throw `the fake host has no answer for route \`${route}\`: call answer(route, text)`;
  }
  const usage = { promptTokens: 10n, completionTokens: 1n, cachedPromptTokens: 0n };
  return { text: state.answers.get(route), finishReason: 'stop', model: route, usage };
}
export function embed(route, texts) {
  return texts.map((t) => {
    const v = new Array(16).fill(0);
    [...new TextEncoder().encode(t)].forEach((b, i) => { v[(b + i) % 16] += 1; });
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
    return Float32Array.from(v.map((x) => x / n));
  });
}

export function moderate(route, texts) {
  state.asked.push([route, texts]);
  return texts.map(() => ({ flagged: false, scores: [] }));
}

// `keyvalue` (contract 0.3.0), in memory.
export function get(k) {
  return state.kv.get(k);
}
export function set(k, value, ttl) {
  state.kv.set(k, value);
}
export function remove(k) {
  state.kv.delete(k);
}
