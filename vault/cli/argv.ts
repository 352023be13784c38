/**
 * UIDs are base64url, so one in 64 starts with '-' (`-xLRmI3BkkdCum-gqeoEyw`), and a parser
 * takes such an argument for an unknown option. Before parsing, any argument shaped exactly
 * like a UID that starts with '-' and is not one of our flags is marked with a private-use
 * character; the flag parsers and a pre-action hook remove the mark again. Nobody has to know
 * about `--`.
 */
import type { Command } from 'commander';
import { UID_PATTERN } from '../../core/ids.ts';

const MARK = '\uE000';

function knownFlags(command: Command, into = new Set<string>()): Set<string> {
  for (const option of command.options) {
    if (option.long) into.add(option.long);
    if (option.short) into.add(option.short);
  }
  into.add('--help');
  into.add('-h');
  for (const sub of command.commands) knownFlags(sub, into);
  return into;
}

export function protectDashUids(program: Command, argv: string[]): string[] {
  const flags = knownFlags(program);
  return argv.map((arg, i) => (i >= 2 && arg.startsWith('-') && UID_PATTERN.test(arg) && !flags.has(arg) ? MARK + arg : arg));
}

export function unprotect<T>(value: T): T {
  if (typeof value === 'string') return (value.startsWith(MARK) ? value.slice(MARK.length) : value) as T;
  if (Array.isArray(value)) return value.map((v) => unprotect(v)) as T;
  return value;
}

/** Removes the marks from the arguments and option values before the action runs. */
export function unprotectBeforeAction(program: Command): void {
  program.hook('preAction', (_root, action) => {
    const args = action.processedArgs as unknown[];
    for (let i = 0; i < args.length; i++) args[i] = unprotect(args[i]);
    for (const [key, value] of Object.entries(action.opts())) {
      const clean = unprotect(value);
      if (clean !== value) action.setOptionValueWithSource(key, clean, action.getOptionValueSource(key) ?? 'cli');
    }
  });
}
