#!/usr/bin/env -S npx tsx
/**
 * The `postern-gateway` executable. Everything is in ./program.ts; this file only runs it and
 * makes sure the process ends once the command has (a lingering keep-alive socket must not
 * keep a stopped gateway alive).
 */
import { main } from './program.ts';

const code = await main(process.argv);
process.exitCode = code;
setTimeout(() => process.exit(code), 500).unref();
