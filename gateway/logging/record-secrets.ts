/**
 * The secret values inside a decrypted record, for the scrubber: every field whose name marks
 * it as a secret (`password`, `privateKey`, `secretAccessKey`, `clientSecret`, `oneTimeCode`,
 * at any depth, e.g. `pamSettings.connection.password`) and every custom field whose label
 * does ("Private Key", "client_secret"). A pending rotation value counts as well.
 */
import { isSecretField, type RecordData } from '../../core/records/index.ts';

function walk(value: unknown, name: string, out: string[]): void {
  if (typeof value === 'string') {
    if (isSecretField(name)) out.push(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) walk(item, name, out);
    return;
  }
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) walk(child, key, out);
  }
}

export function recordSecretValues(data: RecordData): string[] {
  const out: string[] = [];
  walk(data.fields, '', out);
  for (const field of data.custom) if (isSecretField(field.label)) out.push(field.value);
  return out.filter((v) => v !== '');
}
