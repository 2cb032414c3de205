// Example custom strategy, the same in Rust (../strategy-canary), Python
// (../canary-python) and JavaScript: a canary split. `percent` of requests (setting,
// default 10) try the last target first; the rest keep the config order.
//
//   npm install                 # componentize-js and jco, pinned in package.json
//   npm run build               # canary.wasm (node ../../../sdk/js/build.mjs …)
//   npm test                    # jco transpile with the fake host, then node --test
//   switchboard plugin test canary.wasm --cases ../canary-cases.json
//
// jco's names: the world's own exports (`validate-settings`) are exported functions,
// an exported interface (`load-balancer`) an exported object named after it in camel
// case; a value thrown is the WIT `result`'s error; u64 values are BigInt (`req.random
// % 100n`), u32 and floats numbers, enums strings (`'open'`), options `undefined` or
// the value.
import { setting } from 'switchboard:plugin/host@0.3.0';

/** A `percent` setting's JSON text, or the error that refuses the config. */
function percentOf(value) {
  let p;
  try {
    p = JSON.parse(value);
  } catch {
    p = null;
  }
  if (!Number.isInteger(p) || p < 0 || p > 100) {
    throw `percent must be a whole number from 0 to 100, not ${value}`;
  }
  return p;
}

export function validateSettings(settings) {
  for (const [name, value] of settings) {
    if (name !== 'percent') throw `unknown setting '${name}' (this strategy has percent)`;
    percentOf(value);
  }
}

export const loadBalancer = {
  wantsRequestText() {
    return false;
  },
  select(req, targets) {
    const value = setting('percent');
    const percent = value === undefined ? 10 : percentOf(value);
    const order = [...targets.keys()];
    // `random` comes from the host, so this stays a pure function of its input.
    if (order.length > 1 && req.random % 100n < BigInt(percent)) order.unshift(order.pop());
    return order;
  },
};
