/**
 * The field validators: one zod schema builder per kind of field value (text, secrets, ports,
 * enums, UIDs, hostnames, URLs, lists, port mappings, CIDRs, SSH host keys, CA certificates,
 * rotation schedules, private keys, connection parameters, nested groups), each tagged with its
 * FieldSpec (./field-spec.ts), and the plain checks behind them (isUid, isCidr, ...). The
 * record schemas (./record-types.ts) are composed from these. Error messages never contain the
 * offending value, because the value may be a secret.
 */
import { z } from 'zod';
import { isUid, UID_PATTERN } from '../ids.ts';
import { PORT_MAPPING_PROTOCOLS, ROTATION_SCHEDULE_KEYWORDS } from './enumerations.ts';
import { tagSpec } from './field-spec.ts';

type IssueInput = { input?: unknown };
/** zod error callback: "is required" for a missing value, otherwise `expected`. */
function msgFor(expected: string): (iss: IssueInput) => string {
  return (iss) => (iss.input === undefined ? 'is required' : expected);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const TEXT_MAX = 1024;
const SECRET_MAX = 65536;

/** A UID field value: the one definition in core/ids.ts. */
export { isUid };

const emptyToUndefined = (v: string): string | undefined => (v === '' ? undefined : v);

function baseText(max = TEXT_MAX) {
  return z
    .string({ error: msgFor('expected a string') })
    .trim()
    .max(max, { error: `must be at most ${max} characters` })
    .refine((v) => !CONTROL_CHARS.test(v), { error: 'must not contain control characters' });
}

/** Required single-line text: trimmed, non-empty. */
export function requiredText(max = TEXT_MAX) {
  return tagSpec(
    baseText(max).refine((v) => v !== '', { error: 'must not be empty' }),
    { kind: 'text', required: true },
  );
}

/** Optional single-line text: trimmed; an empty string means "not set". */
export function optionalText(max = TEXT_MAX) {
  return tagSpec(baseText(max).transform(emptyToUndefined).optional(), { kind: 'text', required: false });
}

/** Optional secret: kept exactly as given (no trimming); empty means "not set". */
export function optionalSecret(max = SECRET_MAX) {
  return tagSpec(
    z
      .string({ error: msgFor('expected a string') })
      .max(max, { error: `must be at most ${max} characters` })
      .transform((v) => (v.trim() === '' ? undefined : v))
      .optional(),
    { kind: 'secret', required: false },
  );
}

const PORT_MSG = 'expected an integer from 1 to 65535';
function portBase() {
  return z
    .number({ error: msgFor(PORT_MSG) })
    .int({ error: PORT_MSG })
    .min(1, { error: PORT_MSG })
    .max(65535, { error: PORT_MSG });
}
export function requiredPort() {
  return tagSpec(portBase(), { kind: 'integer', required: true });
}
export function optionalPort() {
  return tagSpec(portBase().optional(), { kind: 'integer', required: false });
}

const BOOL_MSG = 'expected true or false';
export function optionalBool() {
  return tagSpec(z.boolean({ error: BOOL_MSG }).optional(), { kind: 'boolean', required: false });
}
export function boolDefaultFalse() {
  return tagSpec(z.boolean({ error: BOOL_MSG }).default(false), { kind: 'boolean', required: false });
}

function enumBase<const V extends readonly [string, ...string[]]>(values: V) {
  const msg = `expected one of ${values.join(', ')}`;
  return z
    .string({ error: msgFor(msg) })
    .transform((v) => v.trim().toLowerCase())
    .pipe(z.enum(values, { error: msg }));
}
export function requiredEnum<const V extends readonly [string, ...string[]]>(values: V) {
  return tagSpec(enumBase(values), { kind: 'enum', required: true, values });
}
export function optionalEnum<const V extends readonly [string, ...string[]]>(values: V) {
  return tagSpec(enumBase(values).optional(), { kind: 'enum', required: false, values });
}

export function requiredUid() {
  const msg = 'expected a record UID (22 base64url characters)';
  return tagSpec(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .refine((v) => UID_PATTERN.test(v), { error: msg }),
    { kind: 'text', required: true },
  );
}
export function optionalUid() {
  const msg = 'expected a record UID (22 base64url characters)';
  return tagSpec(
    z
      .string({ error: msg })
      .trim()
      .transform(emptyToUndefined)
      .refine((v) => v === undefined || UID_PATTERN.test(v), { error: msg })
      .optional(),
    { kind: 'text', required: false },
  );
}

/** A hostname, IPv4 or IPv6 address: no whitespace, no slashes, at most 255 characters. */
export function requiredHostname() {
  const msg = 'expected a hostname or IP address';
  return tagSpec(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .refine((v) => v !== '', { error: 'must not be empty' })
      .refine((v) => v.length <= 255 && !/[\s/\\\u0000-\u001f\u007f]/.test(v), { error: msg }),
    { kind: 'text', required: true },
  );
}
export function optionalHostname() {
  const msg = 'expected a hostname or IP address';
  return tagSpec(
    z
      .string({ error: msg })
      .trim()
      .transform(emptyToUndefined)
      .refine((v) => v === undefined || (v.length <= 255 && !/[\s/\\\u0000-\u001f\u007f]/.test(v)), { error: msg })
      .optional(),
    { kind: 'text', required: false },
  );
}

export function isHttpUrl(v: string): boolean {
  if (CONTROL_CHARS.test(v) || /\s/.test(v)) return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
}

export function requiredHttpUrl() {
  const msg = 'expected an http:// or https:// URL';
  return tagSpec(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .max(4096, { error: 'must be at most 4096 characters' })
      .refine((v) => isHttpUrl(v), { error: msg }),
    { kind: 'text', required: true },
  );
}

/** A string list; each entry trimmed, empty entries dropped. */
export function optionalList(itemMax = 256) {
  return tagSpec(
    z
      .array(
        z
          .string({ error: 'expected a list of strings' })
          .trim()
          .max(itemMax, { error: `entries must be at most ${itemMax} characters` })
          .refine((v) => !CONTROL_CHARS.test(v), { error: 'must not contain control characters' }),
        { error: 'expected a list of strings' },
      )
      .max(1000, { error: 'must have at most 1000 entries' })
      .transform((items) => items.filter((s) => s !== ''))
      .optional(),
    { kind: 'list', required: false },
  );
}

const PORT_MAPPING_RE = /^(\d{1,5})\s*=\s*([A-Za-z][A-Za-z0-9_-]*)$/;

/** Parse one `port=protocol` entry; returns the canonical form or undefined when invalid. */
export function parsePortMappingEntry(entry: string): string | undefined {
  const m = PORT_MAPPING_RE.exec(entry.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  const protocol = (m[2] ?? '').toLowerCase();
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (!(PORT_MAPPING_PROTOCOLS as readonly string[]).includes(protocol)) return undefined;
  return `${port}=${protocol}`;
}

export function optionalPortMapping() {
  const msg = `expected port=protocol entries (e.g. 2222=ssh), protocol one of ${PORT_MAPPING_PROTOCOLS.join(', ')}`;
  return tagSpec(
    z
      .array(z.string({ error: msg }), { error: msg })
      .max(1000, { error: 'must have at most 1000 entries' })
      .transform((items, ctx) => {
        const out: string[] = [];
        const seen = new Set<string>();
        for (const [i, raw] of items.entries()) {
          if (raw.trim() === '') continue;
          const entry = parsePortMappingEntry(raw);
          if (entry === undefined) {
            ctx.issues.push({ code: 'custom', message: msg, input: undefined, path: [i] });
            continue;
          }
          const port = entry.split('=')[0] ?? '';
          if (seen.has(port)) {
            ctx.issues.push({ code: 'custom', message: `port ${port} is mapped twice`, input: undefined, path: [i] });
            continue;
          }
          seen.add(port);
          out.push(entry);
        }
        return out;
      })
      .optional(),
    { kind: 'portMapping', required: false },
  );
}

const cidrV4 = z.cidrv4();
const cidrV6 = z.cidrv6();
/** True for an IPv4 (`10.0.0.0/8`) or IPv6 (`fd00::/8`) CIDR; the prefix length is required. */
export function isCidr(v: string): boolean {
  return cidrV4.safeParse(v).success || cidrV6.safeParse(v).success;
}

/** One or more CIDRs separated by commas; normalised to `a,b` (IPv6 lower-cased). */
export function optionalCidrList() {
  const msg = 'expected an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/24), several separated by commas';
  return tagSpec(
    z
      .string({ error: msg })
      .trim()
      .max(TEXT_MAX, { error: `must be at most ${TEXT_MAX} characters` })
      .transform((v, ctx) => {
        const parts = v
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '');
        if (parts.length === 0) return undefined;
        const out: string[] = [];
        for (const p of parts) {
          const norm = p.includes(':') ? p.toLowerCase() : p;
          if (!isCidr(norm)) {
            ctx.issues.push({ code: 'custom', message: msg, input: undefined });
            return undefined;
          }
          out.push(norm);
        }
        return out.join(',');
      })
      .optional(),
    { kind: 'text', required: false },
  );
}

/** SSH public key algorithms a host key line may name (what OpenSSH's `ssh-keyscan` prints). */
const HOST_KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;
const HOST_KEY_FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;
const KEY_BLOB = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * One pinned SSH host key in canonical form: `SHA256:<43 base64 chars>` (as `ssh-keygen -lf`
 * prints it) or `<type> <base64 blob>` (from a `.pub` file, an authorized_keys or known_hosts
 * line, or `ssh-keyscan` output; host names, options and comments are dropped). Undefined when
 * the entry is neither.
 */
export function normaliseHostKeyEntry(entry: string): string | undefined {
  const s = entry.trim();
  const fp = HOST_KEY_FINGERPRINT.exec(s);
  if (fp) return `SHA256:${fp[1]}`;
  const words = s.split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    if (HOST_KEY_TYPES.test(words[i]!) && KEY_BLOB.test(words[i + 1]!)) return `${words[i]} ${words[i + 1]}`;
  }
  return undefined;
}

/** Pinned SSH host keys: entries separated by line breaks or commas, stored one per line. */
export function optionalHostKeys() {
  const msg = 'expected SSH host keys: OpenSSH public key lines (ssh-ed25519 AAAA…) or SHA256:… fingerprints, separated by line breaks or commas';
  return tagSpec(
    z
      .string({ error: msg })
      .max(16_384, { error: 'must be at most 16384 characters' })
      .transform((v, ctx) => {
        const entries = v
          .split(/[\r\n,]+/)
          .map((e) => e.trim())
          .filter((e) => e !== '' && !e.startsWith('#'));
        if (entries.length === 0) return undefined;
        const out: string[] = [];
        for (const e of entries) {
          const norm = normaliseHostKeyEntry(e);
          if (norm === undefined) {
            ctx.issues.push({ code: 'custom', message: msg, input: undefined });
            return undefined;
          }
          if (!out.includes(norm)) out.push(norm);
        }
        return out.join('\n');
      })
      .optional(),
    { kind: 'multiline', required: false },
  );
}

const CERT_PEM_RE = /^(?:-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*)+$/;
/** CA certificates (one or more PEM `CERTIFICATE` blocks) to verify a server's TLS certificate against. */
export function optionalCaCertificate() {
  const msg = 'expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)';
  return tagSpec(
    z
      .string({ error: msg })
      .max(SECRET_MAX, { error: `must be at most ${SECRET_MAX} characters` })
      .transform((v, ctx) => {
        const s = v.trim();
        if (s === '') return undefined;
        if (!CERT_PEM_RE.test(s)) ctx.issues.push({ code: 'custom', message: msg, input: undefined });
        return `${s}\n`;
      })
      .optional(),
    { kind: 'multiline', required: false },
  );
}

const CRON_FIELD_RE = /^[0-9A-Za-z*?,/#LW-]+$/;
/** `hourly|daily|weekly|monthly` (any case) or `cron:<minute> <hour> <day> <month> <weekday>`. */
export function normaliseRotationSchedule(v: string): string | undefined {
  const s = v.trim();
  const lower = s.toLowerCase();
  if ((ROTATION_SCHEDULE_KEYWORDS as readonly string[]).includes(lower)) return lower;
  if (lower.startsWith('cron:')) {
    const fields = s.slice(5).trim().split(/\s+/);
    if (fields.length === 5 && fields.every((f) => CRON_FIELD_RE.test(f))) return `cron:${fields.join(' ')}`;
  }
  return undefined;
}

export function optionalSchedule() {
  const msg = `expected ${ROTATION_SCHEDULE_KEYWORDS.join(', ')} or cron:<5-field cron expression>`;
  return tagSpec(
    z
      .string({ error: msg })
      .trim()
      .max(256, { error: 'must be at most 256 characters' })
      .transform((v, ctx) => {
        if (v === '') return undefined;
        const out = normaliseRotationSchedule(v);
        if (out === undefined) ctx.issues.push({ code: 'custom', message: msg, input: undefined });
        return out;
      })
      .optional(),
    { kind: 'text', required: false },
  );
}

const PEM_RE = /^-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]+-----END \1-----\s*$/;
const PPK_RE = /^PuTTY-User-Key-File-\d+:/;
/** A private key in PEM/OpenSSH text form (or a PuTTY .ppk). Kept exactly as given. */
export function looksLikePrivateKey(v: string): boolean {
  const s = v.trim();
  return PEM_RE.test(s) || PPK_RE.test(s);
}

export function optionalPrivateKey() {
  const msg = 'expected a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)';
  return tagSpec(
    z
      .string({ error: msg })
      .max(SECRET_MAX, { error: `must be at most ${SECRET_MAX} characters` })
      .transform((v, ctx) => {
        if (v.trim() === '') return undefined;
        if (!looksLikePrivateKey(v)) ctx.issues.push({ code: 'custom', message: msg, input: undefined });
        return v;
      })
      .optional(),
    { kind: 'secret', required: false },
  );
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Connection parameters: name → string | number | boolean. */
export function optionalConnectionMap() {
  const keyMsg = 'parameter names must be 1 to 128 characters, without control characters, and not __proto__, constructor or prototype';
  const validKey = (k: string): boolean => k.trim() !== '' && k.length <= 128 && !CONTROL_CHARS.test(k) && !FORBIDDEN_KEYS.has(k);
  const key = z.string().refine(validKey, { error: keyMsg });
  const value = z.union([z.string().max(SECRET_MAX), z.number().refine(Number.isFinite), z.boolean()], {
    error: 'parameter values must be a string, a number or a boolean',
  });
  const map = z
    .record(key, value, { error: 'expected an object of connection parameters' })
    .refine((m) => Object.keys(m).length <= 200, { error: 'must have at most 200 parameters' });
  // zod drops an own "__proto__" key silently; report it instead.
  const checked = z.preprocess((v, ctx) => {
    if (typeof v === 'object' && v !== null && Object.hasOwn(v, '__proto__')) ctx.addIssue({ code: 'custom', message: keyMsg });
    return v;
  }, map);
  return tagSpec(checked.optional(), { kind: 'map', required: false });
}

/** A group of fields (a record's `fields`, or a nested group); unknown keys are refused. */
export function group<S extends Record<string, z.ZodType>>(shape: S) {
  return z.strictObject(shape, { error: msgFor('expected an object') });
}

/** An optional nested group, tagged with its shape so that walkers descend into it. */
export function optionalGroup<S extends Record<string, z.ZodType>>(schema: z.ZodObject<S>) {
  return tagSpec(schema.optional(), { kind: 'object', required: false, shape: schema.shape });
}

const COUNT_MSG = 'expected a whole number of at least 0';
export function optionalCount() {
  return tagSpec(z.number({ error: COUNT_MSG }).int({ error: COUNT_MSG }).min(0, { error: COUNT_MSG }).max(128, { error: 'must be at most 128' }).optional(), {
    kind: 'integer',
    required: false,
  });
}

const PASSWORD_LENGTH_MSG = 'expected an integer from 8 to 128';
/** Password complexity `length`: 8 to 128, 32 when not set. */
export function passwordLength() {
  return tagSpec(
    z
      .number({ error: PASSWORD_LENGTH_MSG })
      .int({ error: PASSWORD_LENGTH_MSG })
      .min(8, { error: PASSWORD_LENGTH_MSG })
      .max(128, { error: PASSWORD_LENGTH_MSG })
      .default(32),
    { kind: 'integer', required: false },
  );
}

const SPECIAL_CHARS_MSG = 'expected printable ASCII punctuation characters';
/** Password complexity `specialChars`: the punctuation a generated password may use; empty means "not set". */
export function optionalSpecialChars() {
  return tagSpec(
    z
      .string({ error: SPECIAL_CHARS_MSG })
      .max(128, { error: 'must be at most 128 characters' })
      .refine((v) => /^[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]*$/.test(v), { error: SPECIAL_CHARS_MSG })
      .transform(emptyToUndefined)
      .optional(),
    { kind: 'text', required: false },
  );
}
