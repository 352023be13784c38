/**
 * Getting the master password into the CLI, and nothing else about it: it is used to derive
 * keys in this process and then dropped; it is never written to disk or sent anywhere.
 *
 * Two ways in:
 *   - a hidden prompt on the terminal (the default; `register` asks twice);
 *   - `--password-stdin`: the first line of standard input, for scripts
 *     (`pass show postern | postern login --email a@example.com --password-stdin`).
 *
 * There is deliberately no `POSTERN_PASSWORD` environment variable. The master password opens
 * the whole vault, and the environment is the leakiest place to keep it: it is inherited by
 * every child process (including the post-rotation scripts and tools a session may launch),
 * readable in /proc/<pid>/environ, captured by `docker inspect`, CI job logs and crash reports,
 * and typed inline it lands in shell history. A pipe into stdin is read once and gone. (Device
 * configurations do come from the environment — `POSTERN_SECRETS_CONFIG` — because a device is
 * scoped to one application and can be revoked on its own; a master password cannot.)
 */
import { PosternError, UsageError } from '../../core/errors.ts';
import type { CliIo } from './output.ts';

export const MIN_MASTER_PASSWORD_LENGTH = 12;

/** The first line of stdin (without its line ending); stdin is released afterwards. */
export function readStdinLine(io: CliIo, what: string): Promise<string> {
  const stdin = io.stdin;
  return new Promise((resolve, reject) => {
    let buffered = '';
    const finish = (error: Error | null) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      stdin.pause();
      if (!stdin.isTTY) stdin.destroy();
      if (error) reject(error);
      else {
        const line = buffered.split('\n')[0]!.replace(/\r$/, '');
        buffered = '';
        resolve(line);
      }
    };
    const onData = (chunk: Buffer | string) => {
      buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      if (buffered.includes('\n')) finish(null);
    };
    const onEnd = () => finish(buffered === '' ? new UsageError(`Standard input was empty; expected ${what} on its first line.`) : null);
    const onError = (err: Error) => finish(err);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    stdin.resume();
  });
}

/** Reads a line from the terminal without echoing it. Ctrl-C cancels. */
export function promptHidden(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin;
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') {
    return Promise.reject(new UsageError('No terminal to ask for the master password on; pass --password-stdin and pipe it in.'));
  }
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    let inEscapeSequence = false;
    const done = (result: string | Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (typeof result === 'string') resolve(result);
      else reject(result);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (inEscapeSequence) {
          // Skip terminal escape sequences (arrow keys, …): ESC [ … final letter.
          if (/[A-Za-z~]/.test(ch)) inEscapeSequence = false;
          continue;
        }
        if (ch === '\r' || ch === '\n') return done(value);
        if (ch === '\u0003') return done(new PosternError('bad_request', 'Cancelled.'));
        if (ch === '\u0004') {
          if (value === '') return done(new PosternError('bad_request', 'Cancelled.'));
          continue;
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch === '\u001b') inEscapeSequence = true;
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Reads a visible line from the terminal (an email address). */
export async function promptLine(io: CliIo, prompt: string, flag: string): Promise<string> {
  if (!io.stdin.isTTY) throw new UsageError(`${flag} is required (there is no terminal to ask on).`);
  io.stderr.write(prompt);
  return (await readStdinLine(io, flag)).trim();
}

/**
 * A secret value for `--password-stdin` / `--field-stdin`: the first line of piped stdin, or a
 * hidden prompt when stdin is a terminal (so that typing it does not echo it).
 */
export function readSecretLine(io: CliIo, prompt: string, what: string): Promise<string> {
  return io.stdin.isTTY ? promptHidden(io, prompt) : readStdinLine(io, what);
}

export interface PasswordOptions {
  passwordStdin: boolean;
  /** Ask twice and refuse short passwords (account creation). */
  confirm: boolean;
}

export async function readMasterPassword(io: CliIo, options: PasswordOptions): Promise<string> {
  let password: string;
  if (options.passwordStdin) {
    password = await readSecretLine(io, 'Master password: ', 'the master password');
  } else {
    password = await promptHidden(io, 'Master password: ');
    if (options.confirm && password.length >= MIN_MASTER_PASSWORD_LENGTH) {
      const again = await promptHidden(io, 'Repeat the master password: ');
      if (again !== password) throw new PosternError('bad_request', 'The two master passwords differ; nothing was changed.');
    }
  }
  if (password === '') throw new PosternError('bad_request', 'The master password is empty.');
  if (options.confirm && [...password].length < MIN_MASTER_PASSWORD_LENGTH) {
    throw new PosternError(
      'bad_request',
      `The master password must be at least ${MIN_MASTER_PASSWORD_LENGTH} characters long; a passphrase of four or more random words is a good choice.`,
    );
  }
  return password;
}
