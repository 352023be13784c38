/** `--field NAME` of `postern record get` and `postern secrets get`: one field's value, raw, for scripts. */
import { PosternError } from '../../core/errors.ts';
import { fieldValue, recordFieldsForDisplay, type RecordData } from '../../core/records/index.ts';
import type { CliContext } from './context.ts';

/**
 * Prints exactly the value and a newline (no masking, no escaping), or `{uid, field, value}` with
 * --json. A field that is not set is not_found, naming the fields that are.
 */
export function printRecordField(ctx: CliContext, uid: string, data: RecordData, field: string): void {
  const value = fieldValue(data, field);
  if (value === undefined) {
    const names = recordFieldsForDisplay(data).map((f) => f.name);
    throw new PosternError('not_found', `Record ${uid} has no field "${field}" set; set fields: ${names.join(', ')}.`, { field, fields: names });
  }
  ctx.out.result({ uid, field, value }, () => ctx.out.raw(`${value}\n`));
}
