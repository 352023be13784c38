/**
 * Showing a record to a person (`postern get UID`) and reading one value (`get UID --field NAME`).
 * Names are the ones `--field name=value` accepts, so what is shown can be set back.
 */
import { customValue } from './custom-fields.ts';
import type { RecordData } from './record-data.ts';
import { isSecretField } from './record-types.ts';

export const MASK = '********';

export interface DisplayField {
  name: string;
  value: string;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

function listText(v: unknown[]): string {
  return v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') ? v.map(String).join(', ') : scalarText(v);
}

/**
 * The record as `{ name, value }` rows: `title`, then the fields flattened with dotted names
 * (`pamSettings.protocol`, `pamSettings.connection.port`, `features.tunneling`), then custom fields
 * as `custom.<label>`, then `notes`. Lists are joined with ", ". Secret fields (and custom fields
 * whose label names a secret, e.g. "Password") show `********` unless `unmask` is set.
 */
export function recordFieldsForDisplay(record: RecordData, options: { unmask?: boolean } = {}): DisplayField[] {
  const unmask = options.unmask === true;
  const out: DisplayField[] = [];
  const push = (name: string, value: string, secretName: string): void => {
    out.push({ name, value: !unmask && isSecretField(secretName) ? MASK : value });
  };

  if (typeof record.title === 'string') out.push({ name: 'title', value: record.title });

  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [key, v] of Object.entries(obj)) {
      if (v === undefined || v === null) continue;
      const name = prefix + key;
      if (isPlainObject(v)) walk(v, `${name}.`);
      else if (Array.isArray(v)) push(name, listText(v), name);
      else push(name, scalarText(v), name);
    }
  };
  if (isPlainObject(record.fields)) walk(record.fields, '');

  if (Array.isArray(record.custom)) {
    for (const c of record.custom) {
      if (!isPlainObject(c) || typeof c['label'] !== 'string') continue;
      push(`custom.${c['label']}`, scalarText(c['value']), c['label']);
    }
  }

  if (typeof record.notes === 'string') out.push({ name: 'notes', value: record.notes });
  return out;
}

/** Find `segs` in nested plain objects: exact keys first, then case-insensitive; dotted keys allowed. */
function lookup(obj: unknown, segs: string[]): { found: boolean; value?: unknown } {
  if (segs.length === 0) return { found: true, value: obj };
  if (!isPlainObject(obj)) return { found: false };
  // Longest key first, so a connection parameter named "a.b" is reachable.
  for (let j = segs.length; j >= 1; j--) {
    const key = segs.slice(0, j).join('.');
    let k: string | undefined = Object.hasOwn(obj, key) ? key : undefined;
    if (k === undefined) {
      const lower = key.toLowerCase();
      k = Object.keys(obj).find((x) => x.toLowerCase() === lower);
    }
    if (k !== undefined) {
      const r = lookup(obj[k], segs.slice(j));
      if (r.found) return r;
    }
  }
  return { found: false };
}

/**
 * The raw (unmasked) value of one field as a string, for `get UID --field NAME`: `title`, `notes`,
 * `type`, a dotted field name (case-insensitive), `custom.<label>` or a bare custom label
 * (case-insensitive). Strings are returned as stored, numbers and booleans as text, lists and
 * groups as JSON. Undefined when there is no such field or it is not set.
 */
export function fieldValue(record: RecordData, name: string): string | undefined {
  const n = name.trim();
  const lower = n.toLowerCase();
  if (lower === 'title') return typeof record.title === 'string' ? record.title : undefined;
  if (lower === 'notes') return typeof record.notes === 'string' ? record.notes : undefined;
  if (lower === 'type') return typeof record.type === 'string' ? record.type : undefined;
  const custom = Array.isArray(record.custom) ? record.custom : [];
  if (lower.startsWith('custom.')) return customValue({ custom }, n.slice('custom.'.length));
  if (n !== '') {
    const r = lookup(record.fields, n.split('.'));
    if (r.found && r.value !== undefined && r.value !== null) return scalarText(r.value);
  }
  return customValue({ custom }, n);
}
