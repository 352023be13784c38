#!/usr/bin/env -S npx tsx
/**
 * The `postern` executable. Everything is in ./program.ts; this file only runs it.
 */
import { main } from './program.ts';

process.exitCode = await main(process.argv);
