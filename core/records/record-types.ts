/**
 * Record types and the schema of each type's `fields`.
 *
 * Records are encrypted client-side; the server only ever sees the type name. These schemas are
 * the client-side model shared by the CLI, the SDK and the gateway. Every leaf schema is built by
 * one of the helpers below, which also tags it with a {@link FieldSpec} so that other modules
 * (the CLI `--field name=value` parser, displays, help output) can walk the shape without
 * introspecting zod internals. Error messages never contain the offending value, because the value
 * may be a secret.
 */
import { z } from 'zod';

export const RECORD_TYPES = [
  'login',
  'pamMachine',
  'pamDatabase',
  'pamDirectory',
  'pamRemoteBrowser',
  'pamUser',
  'pamConfiguration',
] as const;

export type RecordType = (typeof RECORD_TYPES)[number];

export function isRecordType(x: unknown): x is RecordType {
  return typeof x === 'string' && (RECORD_TYPES as readonly string[]).includes(x);
}

/** PAM record types: the ones whose gateway custom fields (Shell, NOOP, ...) have meaning. */
export function isPamRecordType(type: RecordType): boolean {
  return type !== 'login';
}

/** Resources: what a gateway connects to and tunnels reach. Each carries a trafficEncryptionSeed. */
export const RESOURCE_RECORD_TYPES = ['pamMachine', 'pamDatabase', 'pamDirectory', 'pamRemoteBrowser'] as const;
export type ResourceRecordType = (typeof RESOURCE_RECORD_TYPES)[number];

export function isResourceRecordType(type: string): type is ResourceRecordType {
  return (RESOURCE_RECORD_TYPES as readonly string[]).includes(type);
}

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

export const OPERATING_SYSTEMS = ['linux', 'windows', 'macos', 'other'] as const;
export const DATABASE_TYPES = ['mysql', 'mariadb', 'postgresql', 'mssql', 'mongodb', 'oracle'] as const;
export const DIRECTORY_TYPES = ['active_directory', 'openldap', 'azure_ad'] as const;
export const PROTOCOLS = ['ssh', 'rdp', 'vnc', 'telnet', 'mysql', 'postgresql', 'sqlserver', 'http', 'kubernetes'] as const;
export const ENVIRONMENTS = ['local', 'aws', 'azure', 'domain'] as const;
/** Protocol names accepted on the right-hand side of a `portMapping` entry (`2222=ssh`). */
export const PORT_MAPPING_PROTOCOLS = [
  ...PROTOCOLS,
  'https',
  'mariadb',
  'mssql',
  'mongodb',
  'oracle',
  'ldap',
  'ldaps',
  'winrm',
] as const;
/** Keywords accepted by `defaultRotationSchedule`; anything else must be `cron:<5 fields>`. */
export const ROTATION_SCHEDULE_KEYWORDS = ['hourly', 'daily', 'weekly', 'monthly'] as const;

export type OperatingSystem = (typeof OPERATING_SYSTEMS)[number];
export type DatabaseType = (typeof DATABASE_TYPES)[number];
export type DirectoryType = (typeof DIRECTORY_TYPES)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Environment = (typeof ENVIRONMENTS)[number];

// ---------------------------------------------------------------------------------------------
// Field specs: a small, zod-independent description of each field, used to walk the shapes.
// ---------------------------------------------------------------------------------------------

export type FieldKind =
  | 'text' // single-line string, trimmed
  | 'multiline' // free text (private keys), not trimmed
  | 'secret' // password-like, kept exactly as given
  | 'integer' // ports and counts
  | 'boolean'
  | 'enum'
  | 'list' // string list
  | 'portMapping' // list of `port=protocol`
  | 'object' // nested group of fields (see `shape`)
  | 'map'; // free-form key → string | number | boolean (connection parameters)

export interface FieldSpec {
  kind: FieldKind;
  required: boolean;
  /** enum: the allowed (lower-case) values. */
  values?: readonly string[];
  /** object: the nested shape. */
  shape?: Record<string, z.ZodType>;
}

const SPECS = new WeakMap<z.ZodType, FieldSpec>();

function tag<T extends z.ZodType>(schema: T, spec: FieldSpec): T {
  SPECS.set(schema, spec);
  return schema;
}

/** The spec of a schema built by this module, or undefined. */
export function fieldSpecOf(schema: z.ZodType): FieldSpec | undefined {
  return SPECS.get(schema);
}

// ---------------------------------------------------------------------------------------------
// Leaf validators
// ---------------------------------------------------------------------------------------------

type IssueInput = { input?: unknown };
/** zod error callback: "is required" for a missing value, otherwise `expected`. */
function msgFor(expected: string): (iss: IssueInput) => string {
  return (iss) => (iss.input === undefined ? 'is required' : expected);
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const TEXT_MAX = 1024;
const SECRET_MAX = 65536;

const UID_RE = /^[A-Za-z0-9_-]{21}[AQgw]$/;

/**
 * A UID is 16 random bytes in unpadded base64url: 22 characters, and (being canonical) the
 * last character carries only 2 data bits, so it is one of A, Q, g, w.
 */
export function isUid(x: unknown): x is string {
  return typeof x === 'string' && UID_RE.test(x);
}

const emptyToUndefined = (v: string): string | undefined => (v === '' ? undefined : v);

function baseText(max = TEXT_MAX) {
  return z
    .string({ error: msgFor('expected a string') })
    .trim()
    .max(max, { error: `must be at most ${max} characters` })
    .refine((v) => !CONTROL_CHARS.test(v), { error: 'must not contain control characters' });
}

/** Required single-line text: trimmed, non-empty. */
function requiredText(max = TEXT_MAX) {
  return tag(baseText(max).refine((v) => v !== '', { error: 'must not be empty' }), { kind: 'text', required: true });
}

/** Optional single-line text: trimmed; an empty string means "not set". */
function optionalText(max = TEXT_MAX) {
  return tag(baseText(max).transform(emptyToUndefined).optional(), { kind: 'text', required: false });
}

/** Optional secret: kept exactly as given (no trimming); empty means "not set". */
function optionalSecret(max = SECRET_MAX) {
  return tag(
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
function requiredPort() {
  return tag(portBase(), { kind: 'integer', required: true });
}
function optionalPort() {
  return tag(portBase().optional(), { kind: 'integer', required: false });
}

const BOOL_MSG = 'expected true or false';
function optionalBool() {
  return tag(z.boolean({ error: BOOL_MSG }).optional(), { kind: 'boolean', required: false });
}
function boolDefaultFalse() {
  return tag(z.boolean({ error: BOOL_MSG }).default(false), { kind: 'boolean', required: false });
}

function enumBase<const V extends readonly [string, ...string[]]>(values: V) {
  const msg = `expected one of ${values.join(', ')}`;
  return z
    .string({ error: msgFor(msg) })
    .transform((v) => v.trim().toLowerCase())
    .pipe(z.enum(values, { error: msg }));
}
function requiredEnum<const V extends readonly [string, ...string[]]>(values: V) {
  return tag(enumBase(values), { kind: 'enum', required: true, values });
}
function optionalEnum<const V extends readonly [string, ...string[]]>(values: V) {
  return tag(enumBase(values).optional(), { kind: 'enum', required: false, values });
}

function requiredUid() {
  const msg = 'expected a record UID (22 base64url characters)';
  return tag(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .refine((v) => UID_RE.test(v), { error: msg }),
    { kind: 'text', required: true },
  );
}
function optionalUid() {
  const msg = 'expected a record UID (22 base64url characters)';
  return tag(
    z
      .string({ error: msg })
      .trim()
      .transform(emptyToUndefined)
      .refine((v) => v === undefined || UID_RE.test(v), { error: msg })
      .optional(),
    { kind: 'text', required: false },
  );
}

/** A hostname, IPv4 or IPv6 address: no whitespace, no slashes, at most 255 characters. */
function requiredHostname() {
  const msg = 'expected a hostname or IP address';
  return tag(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .refine((v) => v !== '', { error: 'must not be empty' })
      .refine((v) => v.length <= 255 && !/[\s/\\\u0000-\u001f\u007f]/.test(v), { error: msg }),
    { kind: 'text', required: true },
  );
}
function optionalHostname() {
  const msg = 'expected a hostname or IP address';
  return tag(
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

function requiredHttpUrl() {
  const msg = 'expected an http:// or https:// URL';
  return tag(
    z
      .string({ error: msgFor(msg) })
      .trim()
      .max(4096, { error: 'must be at most 4096 characters' })
      .refine((v) => isHttpUrl(v), { error: msg }),
    { kind: 'text', required: true },
  );
}

/** A string list; each entry trimmed, empty entries dropped. */
function optionalList(itemMax = 256) {
  return tag(
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

function optionalPortMapping() {
  const msg = `expected port=protocol entries (e.g. 2222=ssh), protocol one of ${PORT_MAPPING_PROTOCOLS.join(', ')}`;
  return tag(
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
function optionalCidrList() {
  const msg = 'expected an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/24), several separated by commas';
  return tag(
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
function optionalHostKeys() {
  const msg = 'expected SSH host keys: OpenSSH public key lines (ssh-ed25519 AAAA…) or SHA256:… fingerprints, separated by line breaks or commas';
  return tag(
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
function optionalCaCertificate() {
  const msg = 'expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)';
  return tag(
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

function optionalSchedule() {
  const msg = `expected ${ROTATION_SCHEDULE_KEYWORDS.join(', ')} or cron:<5-field cron expression>`;
  return tag(
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

function optionalPrivateKey() {
  const msg = 'expected a PEM or OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)';
  return tag(
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
function optionalConnectionMap() {
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
  return tag(checked.optional(), { kind: 'map', required: false });
}

function group<S extends Record<string, z.ZodType>>(shape: S) {
  return z.strictObject(shape, { error: msgFor('expected an object') });
}

function optionalGroup<S extends Record<string, z.ZodType>>(schema: z.ZodObject<S>) {
  return tag(schema.optional(), { kind: 'object', required: false, shape: schema.shape });
}

// ---------------------------------------------------------------------------------------------
// Shared groups
// ---------------------------------------------------------------------------------------------

export const recordingSchema = group({
  graphical: boolDefaultFalse(),
  typescript: boolDefaultFalse(),
});

/** PAM Settings: shared by pamMachine, pamDatabase, pamDirectory and pamRemoteBrowser. */
export const pamSettingsSchema = group({
  configurationUid: optionalUid(),
  adminCredentialUid: optionalUid(),
  protocol: optionalEnum(PROTOCOLS),
  connection: optionalConnectionMap(),
  recording: optionalGroup(recordingSchema),
  allowTunneling: optionalBool(),
});

const COUNT_MSG = 'expected a whole number of at least 0';
function optionalCount() {
  return tag(
    z
      .number({ error: COUNT_MSG })
      .int({ error: COUNT_MSG })
      .min(0, { error: COUNT_MSG })
      .max(128, { error: 'must be at most 128' })
      .optional(),
    { kind: 'integer', required: false },
  );
}

const SPECIAL_CHARS_MSG = 'expected printable ASCII punctuation characters';
export const passwordComplexitySchema = group({
  length: tag(
    z
      .number({ error: 'expected an integer from 8 to 128' })
      .int({ error: 'expected an integer from 8 to 128' })
      .min(8, { error: 'expected an integer from 8 to 128' })
      .max(128, { error: 'expected an integer from 8 to 128' })
      .default(32),
    { kind: 'integer', required: false },
  ),
  upper: optionalCount(),
  lower: optionalCount(),
  digits: optionalCount(),
  special: optionalCount(),
  specialChars: tag(
    z
      .string({ error: SPECIAL_CHARS_MSG })
      .max(128, { error: 'must be at most 128 characters' })
      .refine((v) => /^[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]*$/.test(v), { error: SPECIAL_CHARS_MSG })
      .transform(emptyToUndefined)
      .optional(),
    { kind: 'text', required: false },
  ),
}).superRefine((pc, ctx) => {
  const min = (pc.upper ?? 0) + (pc.lower ?? 0) + (pc.digits ?? 0) + (pc.special ?? 0);
  if (min > pc.length) {
    ctx.addIssue({
      code: 'custom',
      message: `upper + lower + digits + special (${min}) exceeds length (${pc.length})`,
      path: ['length'],
    });
  }
});

// The superRefine wrapper hides `.shape`; keep the plain object for walking.
const passwordComplexityShape = passwordComplexitySchema.shape;

export const featuresSchema = group({
  rotation: boolDefaultFalse(),
  connections: boolDefaultFalse(),
  remoteBrowserIsolation: boolDefaultFalse(),
  tunneling: boolDefaultFalse(),
  graphicalRecording: boolDefaultFalse(),
  typescriptRecording: boolDefaultFalse(),
});

// ---------------------------------------------------------------------------------------------
// Per-type fields
// ---------------------------------------------------------------------------------------------

export const loginFieldsSchema = group({
  login: optionalText(),
  password: optionalSecret(),
  url: optionalText(4096),
  oneTimeCode: optionalSecret(4096),
});

export const pamMachineFieldsSchema = group({
  hostname: requiredHostname(),
  port: requiredPort(),
  operatingSystem: optionalEnum(OPERATING_SYSTEMS),
  instanceName: optionalText(),
  instanceId: optionalText(),
  providerGroup: optionalText(),
  providerRegion: optionalText(),
  sslVerification: optionalBool(),
  /** Pinned SSH host keys; empty: the gateway records the key it first sees (trust on first use). */
  hostKey: optionalHostKeys(),
  pamSettings: optionalGroup(pamSettingsSchema),
  /** Random, made by the vault when the record is created: tunnel signalling keys derive from it. */
  trafficEncryptionSeed: optionalSecret(128),
});

export const pamDatabaseFieldsSchema = group({
  hostname: requiredHostname(),
  port: requiredPort(),
  /** true: TLS required; false: never; unset: TLS whenever the server offers it. */
  useSSL: optionalBool(),
  /** Verify the server's certificate against the system's CAs (sslCaCertificate, when set, always is). */
  sslVerification: optionalBool(),
  sslCaCertificate: optionalCaCertificate(),
  databaseId: optionalText(),
  databaseType: optionalEnum(DATABASE_TYPES),
  providerGroup: optionalText(),
  providerRegion: optionalText(),
  pamSettings: optionalGroup(pamSettingsSchema),
  /** Random, made by the vault when the record is created: tunnel signalling keys derive from it. */
  trafficEncryptionSeed: optionalSecret(128),
});

export const pamDirectoryFieldsSchema = group({
  hostname: requiredHostname(),
  port: requiredPort(),
  useSSL: optionalBool(),
  sslVerification: optionalBool(),
  sslCaCertificate: optionalCaCertificate(),
  directoryType: optionalEnum(DIRECTORY_TYPES),
  domainName: optionalText(),
  distinguishedName: optionalText(),
  providerGroup: optionalText(),
  providerRegion: optionalText(),
  pamSettings: optionalGroup(pamSettingsSchema),
  /** Random, made by the vault when the record is created: tunnel signalling keys derive from it. */
  trafficEncryptionSeed: optionalSecret(128),
});

export const pamRemoteBrowserFieldsSchema = group({
  url: requiredHttpUrl(),
  pamSettings: optionalGroup(pamSettingsSchema),
  /** Random, made by the vault when the record is created: tunnel signalling keys derive from it. */
  trafficEncryptionSeed: optionalSecret(128),
});

export const pamUserFieldsSchema = group({
  login: requiredText(),
  password: optionalSecret(),
  privateKey: optionalPrivateKey(),
  distinguishedName: optionalText(),
  connectDatabase: optionalText(),
  managed: optionalBool(),
  passwordComplexity: tag(passwordComplexitySchema.optional(), {
    kind: 'object',
    required: false,
    shape: passwordComplexityShape,
  }),
});

export const pamConfigurationFieldsSchema = group({
  environment: requiredEnum(ENVIRONMENTS),
  gatewayUid: requiredUid(),
  applicationFolderUid: requiredUid(),
  features: tag(featuresSchema.prefault({}), { kind: 'object', required: false, shape: featuresSchema.shape }),
  defaultRotationSchedule: optionalSchedule(),
  portMapping: optionalPortMapping(),
  networkId: optionalText(),
  networkCidr: optionalCidrList(),
  /** When set, the gateway dials tunnel and rotation targets only inside these CIDRs. */
  targetNetworks: optionalCidrList(),
  /** Cloud metadata addresses (169.254.169.254, …) as targets: refused unless true. */
  allowMetadataTargets: optionalBool(),
  // aws
  awsId: optionalText(),
  accessKeyId: optionalText(),
  secretAccessKey: optionalSecret(),
  regionNames: optionalList(),
  // azure
  azureId: optionalText(),
  clientId: optionalText(),
  clientSecret: optionalSecret(),
  subscriptionId: optionalText(),
  tenantId: optionalText(),
  resourceGroups: optionalList(),
  // domain
  dnsDomainName: optionalText(),
  domainHostname: optionalHostname(),
  domainPort: optionalPort(),
  useSSL: optionalBool(),
  scanNetwork: optionalBool(),
});

/** The schema of `fields` for each record type. */
export const fieldSchemas = {
  login: loginFieldsSchema,
  pamMachine: pamMachineFieldsSchema,
  pamDatabase: pamDatabaseFieldsSchema,
  pamDirectory: pamDirectoryFieldsSchema,
  pamRemoteBrowser: pamRemoteBrowserFieldsSchema,
  pamUser: pamUserFieldsSchema,
  pamConfiguration: pamConfigurationFieldsSchema,
} as const satisfies Record<RecordType, z.ZodType>;

export type LoginFields = z.output<typeof loginFieldsSchema>;
export type PamMachineFields = z.output<typeof pamMachineFieldsSchema>;
export type PamDatabaseFields = z.output<typeof pamDatabaseFieldsSchema>;
export type PamDirectoryFields = z.output<typeof pamDirectoryFieldsSchema>;
export type PamRemoteBrowserFields = z.output<typeof pamRemoteBrowserFieldsSchema>;
export type PamUserFields = z.output<typeof pamUserFieldsSchema>;
export type PamConfigurationFields = z.output<typeof pamConfigurationFieldsSchema>;
export type PamSettings = z.output<typeof pamSettingsSchema>;
export type PasswordComplexity = z.output<typeof passwordComplexitySchema>;
export type PamFeatures = z.output<typeof featuresSchema>;

/** Validated `fields` for each record type. */
export interface RecordFieldsByType {
  login: LoginFields;
  pamMachine: PamMachineFields;
  pamDatabase: PamDatabaseFields;
  pamDirectory: PamDirectoryFields;
  pamRemoteBrowser: PamRemoteBrowserFields;
  pamUser: PamUserFields;
  pamConfiguration: PamConfigurationFields;
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

export const SECRET_FIELD_NAMES = ['password', 'privateKey', 'secretAccessKey', 'clientSecret', 'oneTimeCode'] as const;

const SECRET_KEYS = new Set(SECRET_FIELD_NAMES.map((n) => n.toLowerCase()));

/**
 * True when a field should be masked in displays. Accepts a plain name, a dotted path (the last
 * segment decides: `pamSettings.connection.password`) or a custom-field label; comparison ignores
 * case, spaces, dashes and underscores, so "Private Key" and "client_secret" are secrets too.
 */
export function isSecretField(name: string): boolean {
  const last = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : name;
  return SECRET_KEYS.has(last.toLowerCase().replace(/[\s_-]+/g, ''));
}

// ---------------------------------------------------------------------------------------------
// Walking
// ---------------------------------------------------------------------------------------------

/** Top-level shape of a record type's fields. */
export function fieldShape(type: RecordType): Record<string, z.ZodType> {
  return fieldSchemas[type].shape as Record<string, z.ZodType>;
}

/**
 * Every settable dotted field name of a record type (`hostname`, `pamSettings.protocol`,
 * `pamSettings.connection.<name>`, `features.tunneling`, ...), in schema order.
 */
export function fieldPaths(type: RecordType): string[] {
  const out: string[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string): void => {
    for (const [name, schema] of Object.entries(shape)) {
      const spec = fieldSpecOf(schema);
      const path = prefix + name;
      if (spec?.kind === 'object' && spec.shape) walk(spec.shape, `${path}.`);
      else if (spec?.kind === 'map') out.push(`${path}.<name>`);
      else out.push(path);
    }
  };
  walk(fieldShape(type), '');
  return out;
}

/** Names of the required top-level fields of a record type. */
export function requiredFields(type: RecordType): string[] {
  return Object.entries(fieldShape(type))
    .filter(([, s]) => fieldSpecOf(s)?.required === true)
    .map(([n]) => n);
}
