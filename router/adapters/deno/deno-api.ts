/**
 * The slice of the `Deno` namespace this adapter uses, typed here so that `tsc` (which checks
 * the repository with Node's types) checks these files too, without pulling in Deno's own
 * declarations or making `Deno` a global for the rest of the code base.
 */

export interface DenoNetAddr {
  transport: 'tcp' | 'udp';
  hostname: string;
  port: number;
}

/** What Deno.serve hands a handler next to the Request; Hono passes it on as `c.env`. */
export interface DenoServeHandlerInfo {
  remoteAddr: DenoNetAddr;
}

export interface DenoHttpServer {
  readonly finished: Promise<void>;
  readonly addr: DenoNetAddr;
  shutdown(): Promise<void>;
}

export interface DenoServeOptions {
  port?: number;
  hostname?: string;
  signal?: AbortSignal;
  onListen?: (addr: DenoNetAddr) => void;
}

export interface DenoNamespace {
  serve(options: DenoServeOptions, handler: (request: Request, info: DenoServeHandlerInfo) => Response | Promise<Response>): DenoHttpServer;
  env: { get(key: string): string | undefined };
  readTextFile(path: string): Promise<string>;
  writeTextFile(path: string, data: string, options?: { mode?: number; createNew?: boolean }): Promise<void>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  exit(code?: number): never;
  errors: { NotFound: new (...args: never[]) => Error; AlreadyExists: new (...args: never[]) => Error };
}

/** The running Deno; throws when this module is loaded elsewhere (Node, workerd). */
export function denoRuntime(): DenoNamespace {
  const runtime = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (!runtime) throw new Error('router/adapters/deno needs the Deno runtime');
  return runtime;
}
