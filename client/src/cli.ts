#!/usr/bin/env node
/** The `zkgate` bin: `run` with the process's streams, ended by SIGINT/SIGTERM for long commands. */
import { text } from 'node:stream/consumers';
import { run } from './cli/program.js';

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());

process.exitCode = await run(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stdin: () => text(process.stdin),
  env: process.env,
  signal: stop.signal,
});
// Nothing else should keep the process up once the command is done (an idle keep-alive socket).
process.exit();
