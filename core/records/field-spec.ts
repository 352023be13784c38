/**
 * Field specs: a small, zod-independent description of each field (its kind, whether it is
 * required, its enum values or nested shape), attached to every schema the field validators
 * (./validators.ts) build. Other modules (the CLI `--field name=value` parser, displays, help
 * output, ./record-types.ts fieldPaths) walk the shapes through fieldSpecOf without
 * introspecting zod internals.
 */
import type { z } from 'zod';

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

/** Attach `spec` to `schema` (the schema itself is returned, unchanged). */
export function tagSpec<T extends z.ZodType>(schema: T, spec: FieldSpec): T {
  SPECS.set(schema, spec);
  return schema;
}

/** The spec of a schema built by ./validators.ts (or tagged with tagSpec), or undefined. */
export function fieldSpecOf(schema: z.ZodType): FieldSpec | undefined {
  return SPECS.get(schema);
}
