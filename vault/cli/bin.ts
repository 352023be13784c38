#!/usr/bin/env -S npx tsx
/**
 * The `postern` executable. Everything is in ./program.ts; this file only runs it.
 */
import { main } from './program.ts';

const code = await main(process.argv);
process.exitCode = code;
// A finished command exits even if a library left a handle open (werift keeps TURN timers and
// sockets after a peer connection closes). The grace lets piped output drain where pipes are async.
setTimeout(() => process.exit(code), 1000).unref();
