#!/usr/bin/env -S npx tsx
/**
 * The `postern` executable. Everything is in ./program.ts; this file only runs it.
 */
import { main } from './program.ts';

// A reader that went away (`postern events | head -1`) is not an error: stop quietly with status
// 0, as Unix tools do, rather than die on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const code = await main(process.argv);
process.exitCode = code;
// A finished command exits even if a library left a handle open (werift keeps TURN timers and
// sockets after a peer connection closes). The grace lets piped output drain where pipes are async.
setTimeout(() => process.exit(code), 1000).unref();
