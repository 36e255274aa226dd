// Runs a wasm32-wasip1 binary (a cargo test executable) under Node's WASI:
//   node --no-warnings .ci/wasi-runner.mjs file.wasm [args...]
// Set as CARGO_TARGET_WASM32_WASIP1_RUNNER by .ci/cross.sh. The host's root is preopened,
// so tests reading files by absolute path (CARGO_MANIFEST_DIR) work.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: [file, ...args],
  env: process.env,
  preopens: { '/': '/' },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
