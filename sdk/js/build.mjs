// Builds a switchboard plugin component from JavaScript with componentize-js:
//   node build.mjs <source.js> <world> <out.wasm> [wit-dir-or-file]
// The host provides no wasi:http, clocks, random or stdio to plugins, so the engine's
// features that import them are left out (a plugin that imports them would not link:
// `switchboard plugin inspect` says which import is missing).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';

const [source, world, out, wit = 'wit/plugin.wit'] = process.argv.slice(2);
if (!source || !world || !out) {
  console.error('usage: node build.mjs <source.js> <world> <out.wasm> [wit]');
  process.exit(2);
}
const started = Date.now();
const { component } = await componentize({
  sourcePath: source,
  witPath: wit,
  worldName: world,
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
console.log(`${out}: ${component.length} bytes in ${Date.now() - started} ms`);
