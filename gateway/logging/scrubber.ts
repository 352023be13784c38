/**
 * Every secret the gateway holds (its device key and app key, the one-time token it redeemed,
 * the passwords and keys in records it fetched) is registered here, and every line of text
 * that leaves the process for a log, a job report or a terminal passes through `scrub` first.
 *
 * Matching is on the exact text and on the forms a secret takes once it is embedded in JSON
 * or in a URL, so a password inside a serialised log object, an error message or a stack trace
 * is found too. Longer secrets are replaced before shorter ones that they contain.
 *
 * Values shorter than MIN_SECRET_LENGTH are not registered: redacting every "a" or "12" would
 * make the logs useless without hiding anything a reader could not guess.
 */
export const REDACTED = '[REDACTED]';
export const MIN_SECRET_LENGTH = 4;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The ways `secret` can appear in text we write: as is, JSON-escaped, twice JSON-escaped, URL-encoded. */
function variants(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const jsonTwice = JSON.stringify(json).slice(1, -1);
  let url = secret;
  try {
    url = encodeURIComponent(secret);
  } catch {
    // lone surrogates: the raw forms are enough
  }
  return [...new Set([secret, json, jsonTwice, url])];
}

export class SecretScrubber {
  private secrets = new Set<string>();
  private pattern: RegExp | null = null;

  /** Registers one or more secrets; returns how many were new. Empty and very short values are ignored. */
  add(...values: (string | null | undefined)[]): number {
    let added = 0;
    for (const value of values) {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
      for (const form of variants(value)) {
        if (!this.secrets.has(form)) {
          this.secrets.add(form);
          added++;
        }
      }
    }
    if (added) this.pattern = null;
    return added;
  }

  /** Forgets a secret (e.g. once an old password is gone for good). Rarely right: scrubbing costs little. */
  remove(value: string): void {
    for (const form of variants(value)) this.secrets.delete(form);
    this.pattern = null;
  }

  get size(): number {
    return this.secrets.size;
  }

  has(value: string): boolean {
    return this.secrets.has(value);
  }

  scrub(text: string): string {
    if (this.secrets.size === 0 || text.length === 0) return text;
    this.pattern ??= new RegExp(
      [...this.secrets]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join('|'),
      'g',
    );
    return text.replace(this.pattern, REDACTED);
  }

  /** An error as text safe to show: message and stack (and causes) with every secret replaced. */
  scrubError(err: unknown): string {
    const parts: string[] = [];
    let current: unknown = err;
    for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
      if (current instanceof Error) {
        parts.push(current.stack ?? `${current.name}: ${current.message}`);
        current = (current as { cause?: unknown }).cause;
        if (current !== undefined) parts.push('Caused by:');
      } else {
        parts.push(String(current));
        break;
      }
    }
    return this.scrub(parts.join('\n'));
  }

  /** A copy of `err` whose message and stack are scrubbed, for code that rethrows or serialises errors. */
  scrubbedError<E extends Error>(err: E): E {
    const copy = Object.create(Object.getPrototypeOf(err)) as E;
    for (const key of Object.getOwnPropertyNames(err)) {
      const value = (err as unknown as Record<string, unknown>)[key];
      (copy as unknown as Record<string, unknown>)[key] =
        typeof value === 'string' ? this.scrub(value) : value instanceof Error ? this.scrubbedError(value) : value;
    }
    return copy;
  }
}
