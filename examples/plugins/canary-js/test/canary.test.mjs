// The built component, transpiled by jco with the fake host (sdk/js/fake-host.js) as
// its host, under node --test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reset } from '../fake-host.js';
import { loadBalancer, validateSettings } from './gen/canary.js';

const target = (provider, model) => ({
  provider, model, weight: 1, priority: 0, health: 'healthy', inFlight: 0,
  latencyEwmaUs: 0n, ttftEwmaUs: 0n, errorRate: 0, inputPricePerMtok: 0, outputPricePerMtok: 0,
});
const first = (random) =>
  loadBalancer.select(
    { route: 'm', sequence: 0n, random: BigInt(random), estimatedInputTokens: 100n, stream: false },
    [target('stable', 'v1'), target('canary', 'v2')],
  )[0];
const range = (n) => [...Array(n).keys()];

test('percent of requests go to the canary first', () => {
  reset({ percent: 25 });
  assert.equal(range(100).filter((r) => first(r) === 1).length, 25);
  reset();
  assert.equal(range(100).filter((r) => first(r) === 1).length, 10, 'the default');
});

test('a bad percent is refused', () => {
  const refused = (settings, text) =>
    assert.throws(() => validateSettings(settings), (e) => String(e.payload ?? e).includes(text));
  refused([['percent', '500']], '0 to 100');
  refused([['percnt', '5']], "unknown setting 'percnt'");
});
