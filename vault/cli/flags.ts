/**
 * Parsers for flag values. A bad value is a usage error (exit 2) whose message names the flag
 * and what it accepts, e.g. "option '--count <N>' argument '0' is invalid. Expected an integer
 * from 1 to 100."
 */
import { InvalidArgumentError } from 'commander';
import { UID_PATTERN } from '../../core/ids.ts';
import { unprotect } from './argv.ts';

export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const trimmed = unprotect(value).trim();
    const n = /^\d{1,12}$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`Expected an integer from ${min} to ${max}.`);
    return n;
  };
}

/** For repeatable flags: `--field a=1 --field b=2` → ['a=1', 'b=2']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), unprotect(value)];
}

/** A 22-character UID; `what` says which kind and where to find one, for the error message. */
export function uidOf(what: string): (value: string) => string {
  return (value) => {
    const trimmed = unprotect(value).trim();
    if (!UID_PATTERN.test(trimmed)) throw new InvalidArgumentError(`Expected a 22-character ${what}.`);
    return trimmed;
  };
}

export const recordUid = uidOf('record UID (see `postern ls`)');
export const fileUid = uidOf('file UID (see `postern get RECORD_UID`)');
export const deviceUid = uidOf('device UID (see `postern app client list`)');
