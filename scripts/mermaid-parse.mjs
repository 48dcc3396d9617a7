#!/usr/bin/env node
// The real mermaid parser, for tests and tooling: reads a JSON list of diagram sources on stdin and prints
// a JSON list with, for each, null when mermaid (the version pinned in package.json) parses it, else the
// parser's message. One process parses the whole batch, so hundreds of diagrams cost one start-up.
// mermaid expects a browser (DOMPurify for labels, `Option` for colours): jsdom's window lends it the globals
// node lacks before mermaid loads, and tests/test_render_mermaid_real.py checks it against the folder corpus.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('<!doctype html><html><body></body></html>');
for (const name of Object.getOwnPropertyNames(window)) {
  if (!(name in globalThis)) {
    Object.defineProperty(globalThis, name, { configurable: true, get: () => window[name] });
  }
}
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

const diagrams = JSON.parse(readFileSync(0, 'utf8'));
if (!Array.isArray(diagrams) || diagrams.some((d) => typeof d !== 'string')) {
  process.stderr.write('mermaid-parse: stdin must be a JSON list of strings\n');
  process.exit(2);
}
const results = [];
for (const source of diagrams) {
  try {
    await mermaid.parse(source);
    results.push(null);
  } catch (error) {
    results.push(String(error?.message ?? error));
  }
}
process.stdout.write(JSON.stringify(results));
