/**
 * The CLI's `--field name=value` syntax (also usable from the SDK).
 *
 *   hostname=db1.example.com          a field of the record type (names are case-insensitive)
 *   pamSettings.protocol=ssh          a dotted path into a nested group
 *   pamSettings.connection.port=2222  a connection parameter (free-form name)
 *   pamSettings={"protocol":"ssh"}    a whole group as a JSON object
 *   title=...  notes=...              the record's title and notes
 *   NOOP=true  "Private Key Type=ssh-ed25519"
 *                                     a gateway custom field (PAM types), canonical label kept
 *   custom.Any Label=value            an arbitrary custom field
 *   name=                             removes the field
 *
 * The name ends at the FIRST '='. Values are coerced to the field's type: integers, booleans
 * (true/false/yes/no/1/0, any case), string lists (comma- or newline-separated, or a JSON array),
 * portMapping (comma- or newline-separated `port=protocol`). Anything else is an error: a typo never
 * silently becomes a custom field. The result is validated with `validateRecordData`.
 */
import { PosternError } from '../errors.ts';
import { GATEWAY_CUSTOM_FIELDS, canonicalGatewayLabel, labelKey } from './custom-fields.ts';
import { quoteName, validateRecordData, type CustomField, type RecordData } from './record-data.ts';
import { fieldSpecOf, type FieldSpec } from './field-spec.ts';
import { fieldPaths, fieldShape, isPamRecordType, isRecordType, type RecordType } from './record-types.ts';

type Obj = Record<string, unknown>;

function isPlainObject(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function bad(message: string, details?: Record<string, unknown>): PosternError {
  return new PosternError('bad_request', message, details);
}

function setOwn(obj: Obj, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function deleteOwn(obj: Obj, key: string): void {
  if (Object.hasOwn(obj, key)) delete obj[key];
}

/** JSON-safe deep copy (records are JSON); anything else is a bad_request. */
function cloneJson<T>(value: T, what: string): T {
  try {
    const s = JSON.stringify(value);
    return (s === undefined ? undefined : JSON.parse(s)) as T;
  } catch {
    throw bad(`${what} is not JSON data`);
  }
}

/** Parse a boolean the way the CLI accepts it; undefined when not a boolean word. */
export function parseBooleanWord(value: string): boolean | undefined {
  switch (value.trim().toLowerCase()) {
    case 'true':
    case 'yes':
    case '1':
      return true;
    case 'false':
    case 'no':
    case '0':
      return false;
    default:
      return undefined;
  }
}

function splitList(raw: string): string[] | unknown {
  const t = raw.trim();
  if (t.startsWith('[')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      // fall through: treated as a comma-separated list, validation reports bad entries
    }
  }
  return t
    .split(/[,\r\n]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Connection parameter values: canonical integers and true/false become numbers / booleans. */
function coerceScalar(raw: string): string | number | boolean {
  const t = raw.trim();
  if (/^-?(0|[1-9]\d{0,14})$/.test(t)) return Number(t);
  const lower = t.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return t;
}

/**
 * Coerce a raw `--field` value to the field's type. Values that cannot be coerced are passed on
 * unchanged so that validation reports them with the field's usual message.
 */
function coerce(spec: FieldSpec | undefined, raw: string, where: string): unknown {
  const t = raw.trim();
  switch (spec?.kind) {
    case 'secret':
    case 'multiline':
      return raw;
    case 'integer':
      return /^\+?\d{1,15}$/.test(t) ? Number(t) : t;
    case 'boolean': {
      const b = parseBooleanWord(t);
      return b === undefined ? t : b;
    }
    case 'list':
    case 'portMapping':
      return splitList(raw);
    case 'object':
    case 'map': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch {
        parsed = undefined;
      }
      if (!isPlainObject(parsed)) {
        throw bad(`${where}: expected a JSON object, or set ${where.slice(where.indexOf('.') + 1)}.<name>=value`);
      }
      return parsed;
    }
    default:
      return t;
  }
}

function findKey(obj: Record<string, unknown>, name: string): string | undefined {
  if (Object.hasOwn(obj, name)) return name;
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}

/** All names accepted for a record type, for error messages and help. */
export function assignableFieldNames(type: RecordType): string[] {
  return ['title', 'notes', ...fieldPaths(type), ...(isPamRecordType(type) ? GATEWAY_CUSTOM_FIELDS : []), 'custom.<label>'];
}

function unknownField(type: RecordType, name: string): PosternError {
  const valid = assignableFieldNames(type);
  return bad(`unknown field ${quoteName(name)} for ${type}; valid fields: ${valid.join(', ')}`, {
    field: name.length > 64 ? name.slice(0, 64) : name,
    type,
    validFields: valid,
  });
}

interface Draft {
  type: RecordType;
  title: unknown;
  fields: Obj;
  custom: CustomField[];
  notes?: unknown;
}

function setCustom(draft: Draft, label: string, value: string, remove: boolean): void {
  const gw = isPamRecordType(draft.type) ? canonicalGatewayLabel(label) : undefined;
  const wanted = gw ?? label;
  const key = labelKey(wanted);
  const matches = (c: CustomField): boolean =>
    typeof c?.label === 'string' && (labelKey(c.label) === key || (gw !== undefined && canonicalGatewayLabel(c.label) === gw));
  if (remove) {
    draft.custom = draft.custom.filter((c) => !matches(c));
    return;
  }
  const i = draft.custom.findIndex(matches);
  if (i < 0) {
    draft.custom.push({ label: wanted, value });
  } else {
    const existing = draft.custom[i];
    draft.custom[i] = { label: gw ?? (typeof existing?.label === 'string' ? existing.label.trim() : wanted), value };
  }
}

function setField(draft: Draft, name: string, raw: string, remove: boolean): void {
  const { type } = draft;
  const segs = name.split('.').map((s) => s.trim());
  let shape: Record<string, unknown> = fieldShape(type);
  let container: Obj = draft.fields;
  const path: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] ?? '';
    const key = findKey(shape, seg);
    if (key === undefined) throw unknownField(type, name);
    path.push(key);
    const spec = fieldSpecOf(shape[key] as Parameters<typeof fieldSpecOf>[0]);
    const where = `${type}.${path.join('.')}`;
    const last = i === segs.length - 1;

    if (last) {
      if (remove) deleteOwn(container, key);
      else setOwn(container, key, coerce(spec, raw, where));
      return;
    }

    if (spec?.kind === 'object' && spec.shape) {
      let child = container[key];
      if (!isPlainObject(child)) {
        if (remove) return; // nothing to remove below a group that is not set
        child = {};
        setOwn(container, key, child);
      }
      container = child as Obj;
      shape = spec.shape;
      continue;
    }

    if (spec?.kind === 'map') {
      const mapKey = segs.slice(i + 1).join('.');
      if (mapKey === '') throw bad(`${where}: a parameter name is required (${path.join('.')}.<name>=value)`);
      let map = container[key];
      if (!isPlainObject(map)) {
        if (remove) return;
        map = {};
        setOwn(container, key, map);
      }
      const m = map as Obj;
      const existing = findKey(m, mapKey);
      if (remove) {
        if (existing !== undefined) deleteOwn(m, existing);
      } else {
        if (existing !== undefined && existing !== mapKey) deleteOwn(m, existing);
        setOwn(m, mapKey, coerceScalar(raw));
      }
      return;
    }

    // A leaf followed by more segments (e.g. `hostname.x`).
    throw unknownField(type, name);
  }
}

function applyOne(draft: Draft, assignment: unknown): void {
  if (typeof assignment !== 'string') throw bad('field assignments must be strings of the form name=value');
  const eq = assignment.indexOf('=');
  // The text is not echoed: without '=' it may well be a value (a password) typed by mistake.
  if (eq < 0) throw bad(`field assignment must be name=value (no '=' found)`);
  const name = assignment.slice(0, eq).trim();
  const raw = assignment.slice(eq + 1);
  if (name === '') throw bad('field assignment has an empty name (expected name=value)');
  const remove = raw.trim() === '';
  const lower = name.toLowerCase();

  if (lower === 'title') {
    if (remove) throw bad(`${draft.type}.title: cannot be removed`);
    draft.title = raw;
    return;
  }
  if (lower === 'notes') {
    if (remove) delete draft.notes;
    else draft.notes = raw;
    return;
  }
  if (lower === 'type') throw bad('the record type cannot be changed with a field assignment');
  if (lower === 'custom') throw bad('custom fields are set with custom.<label>=value');
  if (lower.startsWith('custom.')) {
    const label = name.slice('custom.'.length).trim();
    if (label === '') throw bad('custom field label is empty (expected custom.<label>=value)');
    setCustom(draft, label, raw, remove);
    return;
  }
  if (findKey(fieldShape(draft.type), name.split('.')[0]?.trim() ?? '') !== undefined) {
    setField(draft, name, raw, remove);
    return;
  }
  if (isPamRecordType(draft.type) && canonicalGatewayLabel(name) !== undefined) {
    setCustom(draft, name, raw, remove);
    return;
  }
  throw unknownField(draft.type, name);
}

/**
 * Apply `name=value` assignments in order and return a new, validated record (the input is not
 * modified). Throws PosternError 'bad_request' for a malformed assignment, an unknown field name
 * (listing the valid names for the type) or a resulting record that does not validate.
 */
export function applyFieldAssignments(record: RecordData, assignments: string[]): RecordData {
  try {
    return apply(record, assignments);
  } catch (e) {
    if (e instanceof PosternError) throw e;
    // Only reachable with hostile non-JSON input (throwing getters, proxies): still a bad request.
    throw bad('record or field assignments could not be processed');
  }
}

function apply(record: RecordData, assignments: string[]): RecordData {
  if (!isPlainObject(record) || !isRecordType(record.type)) {
    validateRecordData(record); // throws the precise error (unknown_record_type / bad_request)
    throw bad('record: expected an object { type, title, fields, custom, notes }');
  }
  if (!Array.isArray(assignments)) throw bad('field assignments must be a list of name=value strings');
  const fields = cloneJson(record.fields ?? {}, 'record.fields');
  const custom = cloneJson(record.custom ?? [], 'record.custom');
  if (!isPlainObject(fields)) throw bad(`${record.type}.fields: expected an object`);
  if (!Array.isArray(custom)) throw bad(`${record.type}.custom: expected a list of { label, value }`);
  const draft: Draft = { type: record.type, title: record.title, fields, custom };
  if (record.notes !== undefined) draft.notes = record.notes;
  for (const a of assignments) applyOne(draft, a);
  return validateRecordData(draft);
}
