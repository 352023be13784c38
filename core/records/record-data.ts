/**
 * The decrypted record: what gets JSON-serialised and encrypted with the record key.
 * `validateRecordData` is the single gate every client (CLI, SDK, gateway) passes a record
 * through after decrypting it and before encrypting it.
 */
import { z } from 'zod';
import { PosternError } from '../errors.ts';
import { canonicalGatewayLabel, labelKey, normaliseGatewayValue } from './custom-fields.ts';
import { fieldSpecOf, type FieldSpec } from './field-spec.ts';
import { RECORD_TYPES, fieldSchemas, isPamRecordType, isRecordType, type RecordType } from './record-types.ts';

export interface CustomField {
  label: string;
  value: string;
}

export interface RecordData {
  type: RecordType;
  /** 1..256 characters, trimmed. */
  title: string;
  /** Typed per record type: see `fieldSchemas` / `RecordFieldsByType`. */
  fields: Record<string, unknown>;
  /** Custom fields; labels are unique case-insensitively. */
  custom: CustomField[];
  notes?: string;
}

export interface RecordIssue {
  /** Dotted path into the record: `fields.pamSettings.protocol`, `title`, `custom.2.label`. */
  path: string;
  message: string;
}

export const TITLE_MAX = 256;
export const NOTES_MAX = 100_000;
export const CUSTOM_FIELDS_MAX = 200;
export const CUSTOM_LABEL_MAX = 256;
export const CUSTOM_VALUE_MAX = 65_536;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

const customFieldSchema = z.strictObject(
  {
    label: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'expected a string') })
      .trim()
      .min(1, { error: 'must not be empty' })
      .max(CUSTOM_LABEL_MAX, { error: `must be at most ${CUSTOM_LABEL_MAX} characters` })
      .refine((v) => !CONTROL_CHARS.test(v), { error: 'must not contain control characters' }),
    value: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'expected a string') })
      .max(CUSTOM_VALUE_MAX, { error: `must be at most ${CUSTOM_VALUE_MAX} characters` }),
  },
  { error: 'expected an object { label, value }' },
);

const titleSchema = z
  .string({ error: (i) => (i.input === undefined ? 'is required' : 'expected a string') })
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(TITLE_MAX, { error: `must be at most ${TITLE_MAX} characters` })
  .refine((v) => !CONTROL_CHARS.test(v), { error: 'must not contain control characters' });

const notesSchema = z
  .string({ error: 'expected a string' })
  .max(NOTES_MAX, { error: `must be at most ${NOTES_MAX} characters` })
  .transform((v) => (v.trim() === '' ? undefined : v))
  .optional();

const TOP_LEVEL_KEYS = ['type', 'title', 'fields', 'custom', 'notes'] as const;

const customListSchema = z
  .array(customFieldSchema, { error: 'expected a list of { label, value }' })
  .max(CUSTOM_FIELDS_MAX, { error: `must have at most ${CUSTOM_FIELDS_MAX} entries` });

function recordSchema(type: RecordType) {
  return z.strictObject({
    type: z.literal(type),
    title: titleSchema,
    fields: fieldSchemas[type] as z.ZodType,
    custom: customListSchema,
    notes: notesSchema,
  });
}

const RECORD_SCHEMAS = new Map<RecordType, ReturnType<typeof recordSchema>>();
function schemaFor(type: RecordType): ReturnType<typeof recordSchema> {
  let s = RECORD_SCHEMAS.get(type);
  if (!s) {
    s = recordSchema(type);
    RECORD_SCHEMAS.set(type, s);
  }
  return s;
}

/** A short, quoted, printable rendering of an untrusted name for error messages. */
export function quoteName(name: string): string {
  const short = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(short);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Build the bad_request error for a list of issues (message = first issue, + count). */
export function issuesError(issues: RecordIssue[], extra?: Record<string, unknown>): PosternError {
  const first = issues[0]?.message ?? 'invalid record';
  const message = issues.length <= 1 ? first : `${first} (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})`;
  return new PosternError('bad_request', message, { ...extra, issues });
}

/** Keys allowed in the nested object at `path` (relative to `fields`), or undefined if not an object. */
function keysAt(type: RecordType, path: readonly PropertyKey[]): string[] | undefined {
  let shape: Record<string, z.ZodType> | undefined = fieldSchemas[type].shape as Record<string, z.ZodType>;
  for (const seg of path) {
    const child: z.ZodType | undefined = shape && typeof seg === 'string' && Object.hasOwn(shape, seg) ? shape[seg] : undefined;
    const spec: FieldSpec | undefined = child ? fieldSpecOf(child) : undefined;
    shape = spec?.kind === 'object' ? spec.shape : undefined;
    if (!shape) return undefined;
  }
  return shape ? Object.keys(shape) : undefined;
}

/** A path segment as shown in messages: plain names as they are, anything odd quoted and shortened. */
function segText(seg: PropertyKey): string {
  const s = String(seg);
  return /^[A-Za-z0-9_ <>-]{1,64}$/.test(s) ? s : quoteName(s);
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map(segText).join('.');
}

function label(type: RecordType, path: readonly PropertyKey[]): string {
  const [head, ...rest] = path;
  const segs = head === 'fields' ? rest : path;
  let out = head === 'fields' && rest.length === 0 ? `${type}.fields` : type;
  for (const seg of segs) out += typeof seg === 'number' ? `[${seg}]` : `.${segText(seg)}`;
  return out;
}

function zodIssuesToRecordIssues(type: RecordType, zIssues: readonly z.core.$ZodIssue[]): RecordIssue[] {
  const out: RecordIssue[] = [];
  for (const iss of zIssues) {
    const path = iss.path;
    if (iss.code === 'unrecognized_keys') {
      let valid: readonly string[] | undefined;
      let what = 'field';
      if (path.length === 0) {
        valid = TOP_LEVEL_KEYS;
        what = 'property';
      } else if (path[0] === 'fields') {
        valid = keysAt(type, path.slice(1));
      } else if (path[0] === 'custom') {
        valid = ['label', 'value'];
        what = 'property';
      }
      for (const key of iss.keys) {
        const p = [...path, key];
        out.push({
          path: pathText(p),
          message: `${label(type, p)}: unknown ${what}${valid ? ` (valid: ${valid.join(', ')})` : ''}`,
        });
      }
      continue;
    }
    out.push({ path: pathText(path), message: `${label(type, path)}: ${iss.message}` });
  }
  return out;
}

/** Remove `undefined` values (fields cleared by empty strings) from nested plain objects. */
function stripUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(stripUndefined) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      Object.defineProperty(out, k, { value: stripUndefined(v), enumerable: true, writable: true, configurable: true });
    }
    return out as T;
  }
  return value;
}

/**
 * Validate and normalise a decrypted record. Returns a new object (the input is not modified):
 * strings trimmed (secrets, notes and custom values excepted), enums lower-cased, defaults filled,
 * empty optional values removed, gateway custom-field labels and values canonicalised on PAM types.
 *
 * Throws PosternError 'unknown_record_type' when `type` is a string that is not a record type,
 * and 'bad_request' with `details.issues: [{ path, message }]` for everything else.
 */
export function validateRecordData(input: unknown): RecordData {
  try {
    return validate(input);
  } catch (e) {
    if (e instanceof PosternError) throw e;
    // Only reachable with hostile non-JSON input (throwing getters, proxies): still a bad request.
    throw issuesError([{ path: '', message: 'record: could not be validated (not JSON data)' }]);
  }
}

function validate(input: unknown): RecordData {
  if (!isPlainObject(input)) {
    throw issuesError([{ path: '', message: 'record: expected an object { type, title, fields, custom, notes }' }]);
  }
  const type = input['type'];
  if (type === undefined) throw issuesError([{ path: 'type', message: 'record.type: is required' }]);
  if (typeof type !== 'string') throw issuesError([{ path: 'type', message: 'record.type: expected a string' }]);
  if (!isRecordType(type)) {
    throw new PosternError('unknown_record_type', `unknown record type ${quoteName(type)} (valid: ${RECORD_TYPES.join(', ')})`, {
      type: type.length > 64 ? type.slice(0, 64) : type,
      validTypes: [...RECORD_TYPES],
    });
  }

  const candidate = {
    ...input,
    fields: input['fields'] === undefined ? {} : input['fields'],
    custom: input['custom'] === undefined ? [] : input['custom'],
  };
  const parsed = schemaFor(type).safeParse(candidate);
  const issues: RecordIssue[] = parsed.success ? [] : zodIssuesToRecordIssues(type, parsed.error.issues);

  // Custom fields are checked on their own so their problems are reported with the others.
  const customParsed = parsed.success ? { success: true as const, data: parsed.data.custom } : customListSchema.safeParse(candidate.custom);
  let custom: CustomField[] = [];
  if (customParsed.success) {
    const seen = new Map<string, number>();
    custom = customParsed.data.map((c, i) => {
      let lab = c.label;
      let value = c.value;
      if (isPamRecordType(type)) {
        const gw = canonicalGatewayLabel(lab);
        if (gw !== undefined) {
          lab = gw;
          const r = normaliseGatewayValue(gw, value);
          if (r.ok) value = r.value;
          else issues.push({ path: `custom.${i}.value`, message: `${type} custom field "${gw}": ${r.message}` });
        }
      }
      const key = labelKey(lab);
      const prev = seen.get(key);
      if (prev !== undefined) {
        issues.push({
          path: `custom.${i}.label`,
          message: `${type} custom field ${quoteName(lab)}: duplicate label (labels are case-insensitive; also at position ${prev + 1})`,
        });
      } else {
        seen.set(key, i);
      }
      return { label: lab, value };
    });
  }

  if (!parsed.success || issues.length > 0) throw issuesError(issues, { type });

  const data = parsed.data;
  const fields = stripUndefined(data.fields as Record<string, unknown>);
  const out: RecordData = { type, title: data.title, fields, custom };
  if (data.notes !== undefined) out.notes = data.notes;
  return out;
}

/** Build and validate a new record. */
export function newRecordData(type: RecordType | string, title: string, fields: Record<string, unknown> = {}, custom: CustomField[] = []): RecordData {
  return validateRecordData({ type, title, fields, custom });
}
