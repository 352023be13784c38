/**
 * The small shell `postern-gateway start` offers when it runs on a terminal: a view of the
 * link and the jobs, and the log level. It is deliberately narrow: the command list is fixed
 * (SHELL_COMMANDS), and the shell sees the gateway only through `ShellHost`, which exposes
 * status and job progress and nothing of the configuration's keys or of any record. Anyone at
 * the terminal can already stop the process; nobody at it can read a secret through it.
 */
import { createInterface, type Interface } from 'node:readline';
import { LOG_LEVELS, type LogLevel } from './logging/logger.ts';
import type { GatewayStatus } from './service.ts';
import type { JobView } from './jobs.ts';

export const SHELL_COMMANDS = ['status', 'tasks', 'version', 'log-level', 'help', 'quit', 'exit'] as const;
export type ShellCommand = (typeof SHELL_COMMANDS)[number];

/** Everything the shell can reach. Keep it free of keys and record content. */
export interface ShellHost {
  status(): GatewayStatus;
  runningTasks(): JobView[];
  recentTasks(): JobView[];
  readonly version: string;
  logLevel(): LogLevel;
  setLogLevel(level: LogLevel): void;
  quit(): Promise<void>;
}

const HELP: Record<ShellCommand, string> = {
  status: 'the Router link: state, gateway UID, Router, connected since, reconnect attempts, last error',
  tasks: 'running jobs (`tasks all` includes recently ended ones)',
  version: 'the gateway version',
  'log-level': 'show the log level, or set it: log-level debug|info|warn|error',
  help: 'this list',
  quit: 'stop the gateway and leave',
  exit: 'same as quit',
};

// C0/C1 control characters and bidi overrides: shown escaped, never acted on by the terminal.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const printable = (text: string) => text.replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

function since(ms: number | null, now: number): string {
  if (ms === null) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  const ago = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${new Date(ms).toISOString()} (${ago} ago)`;
}

function pairs(entries: [string, string | number][]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${printable(String(v))}`).join('\n');
}

function table(headers: string[], rows: string[][]): string {
  const cells = rows.map((r) => r.map(printable));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(headers), ...cells.map(line)].join('\n');
}

function tasksText(tasks: JobView[], now: number): string {
  if (tasks.length === 0) return 'No jobs are running.';
  return table(
    ['JOB ID', 'ACTION', 'STATUS', 'PROGRESS', 'STEP', 'STARTED'],
    tasks.map((t) => [
      t.jobUid,
      t.action,
      t.status,
      `${t.progress}%`,
      t.message && t.status !== 'running' ? `${t.step}: ${t.message}` : t.step,
      since(t.startedAt, now),
    ]),
  );
}

export interface CommandResult {
  output: string;
  quit?: boolean;
}

/** Runs one line typed at the shell. Pure apart from `setLogLevel`; `quit` is left to the caller. */
export function runShellCommand(line: string, host: ShellHost, now = Date.now()): CommandResult {
  const [name = '', ...args] = line.trim().split(/\s+/);
  if (name === '') return { output: '' };
  switch (name as ShellCommand) {
    case 'status': {
      const s = host.status();
      return {
        output: pairs([
          ['state', s.state],
          ['gateway', s.gatewayUid ?? s.deviceUid],
          ['router', s.router],
          ['connected since', since(s.connectedSince, now)],
          ['reconnect attempts', s.reconnectAttempts],
          ['last error', s.lastError ? `${s.lastError.message} (${s.lastError.code})` : '-'],
          ['running jobs', s.runningTasks],
          ['started', since(s.startedAt, now)],
          ['version', s.version],
        ]),
      };
    }
    case 'tasks':
      if (args[0] !== undefined && args[0] !== 'all') return { output: 'usage: tasks [all]' };
      return { output: tasksText(args[0] === 'all' ? host.recentTasks() : host.runningTasks(), now) };
    case 'version':
      return { output: `postern-gateway ${host.version}` };
    case 'log-level': {
      const wanted = args[0];
      if (wanted === undefined) return { output: `log level: ${host.logLevel()}` };
      if (!(LOG_LEVELS as readonly string[]).includes(wanted)) return { output: `usage: log-level [${LOG_LEVELS.join('|')}]` };
      host.setLogLevel(wanted as LogLevel);
      return { output: `log level: ${host.logLevel()}` };
    }
    case 'help':
      return { output: pairs(SHELL_COMMANDS.map((c) => [c, HELP[c]])) };
    case 'quit':
    case 'exit':
      return { output: 'Stopping the gateway…', quit: true };
    default:
      return { output: `Unknown command "${printable(name)}". Commands: ${SHELL_COMMANDS.join(', ')}.` };
  }
}

export interface ShellStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** True on a real terminal (line editing, Ctrl-C as SIGINT). */
  terminal: boolean;
}

/** The interactive loop: one prompt, one command per line; quit, Ctrl-C or Ctrl-D stop the gateway. */
export class GatewayShell {
  private rl: Interface | null = null;
  private quitting = false;

  constructor(
    private readonly host: ShellHost,
    private readonly streams: ShellStreams,
  ) {}

  start(): void {
    const rl = createInterface({
      input: this.streams.input,
      output: this.streams.output,
      terminal: this.streams.terminal,
      prompt: 'postern-gateway> ',
      historySize: 100,
    });
    this.rl = rl;
    this.streams.output.write(`postern-gateway ${this.host.version}. Type "help" for commands, "quit" to stop the gateway.\n`);
    rl.prompt();
    rl.on('line', (line) => {
      const result = runShellCommand(line, this.host);
      if (result.output) this.streams.output.write(`${result.output}\n`);
      if (result.quit) void this.quit();
      else rl.prompt();
    });
    rl.on('SIGINT', () => void this.quit());
    rl.on('close', () => void this.quit());
  }

  private async quit(): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    this.rl?.close();
    await this.host.quit();
  }

  /** Closes the prompt without stopping anything (the gateway is stopping for another reason). */
  close(): void {
    this.quitting = true;
    this.rl?.close();
  }
}
