/**
 * What every command handler gets: where to print, where the CLI keeps its state, and which
 * server it talks to. Built from the global options (`--server`, `--json`) of the invocation.
 */
import type { Command } from 'commander';
import { normaliseServerUrl } from '../../core/vault-client/index.ts';
import { DEFAULT_SERVER, posternHome, readConfig } from './config.ts';
import { Output, type CliIo } from './output.ts';

export interface GlobalOptions {
  server?: string;
  json?: boolean;
}

export interface CliContext {
  io: CliIo;
  out: Output;
  /** `$POSTERN_HOME` or `~/.postern`. */
  home: string;
  /** `--server` or `$POSTERN_SERVER`, when given. */
  serverOption: string | undefined;
}

export function contextOf(command: Command, io: CliIo): CliContext {
  const globals = command.optsWithGlobals<GlobalOptions>();
  return {
    io,
    out: new Output(io, globals.json === true),
    home: posternHome(io.env),
    serverOption: globals.server && globals.server.trim() !== '' ? globals.server : undefined,
  };
}

/** `--server` / `$POSTERN_SERVER`, else the server of the last login, else the local default. */
export function resolveServer(ctx: CliContext): string {
  if (ctx.serverOption) return normaliseServerUrl(ctx.serverOption);
  const saved = readConfig(ctx.home, (t) => ctx.out.warn(t)).currentServer;
  return saved ?? DEFAULT_SERVER;
}
