/**
 * Record types and the schema of each type's `fields`.
 *
 * Records are encrypted client-side; the server only ever sees the type name. These schemas are
 * the client-side model shared by the CLI, the SDK and the gateway. Every leaf schema is built by
 * one of the field validators (./validators.ts), which also tags it with a {@link FieldSpec}
 * (./field-spec.ts) so that other modules (the CLI `--field name=value` parser, displays, help
 * output) can walk the shape without introspecting zod internals. Error messages never contain
 * the offending value, because the value may be a secret.
 *
 * The enumerations, field specs and the validators' plain checks are re-exported from here, where
 * importers have always found them.
 */
import type { z } from 'zod';
import { DATABASE_TYPES, DIRECTORY_TYPES, ENVIRONMENTS, OPERATING_SYSTEMS, PROTOCOLS } from './enumerations.ts';
import { fieldSpecOf, tagSpec } from './field-spec.ts';
import {
  boolDefaultFalse,
  group,
  optionalBool,
  optionalCaCertificate,
  optionalCidrList,
  optionalConnectionMap,
  optionalCount,
  optionalEnum,
  optionalGroup,
  optionalHostKeys,
  optionalHostname,
  optionalList,
  optionalPort,
  optionalPortMapping,
  optionalPrivateKey,
  optionalSchedule,
  optionalSecret,
  optionalSpecialChars,
  optionalText,
  optionalUid,
  passwordLength,
  requiredEnum,
  requiredHostname,
  requiredHttpUrl,
  requiredPort,
  requiredText,
  requiredUid,
} from './validators.ts';

export * from './enumerations.ts';
export { fieldSpecOf, type FieldKind, type FieldSpec } from './field-spec.ts';
export { isCidr, isHttpUrl, isUid, looksLikePrivateKey, normaliseHostKeyEntry, normaliseRotationSchedule, parsePortMappingEntry } from './validators.ts';

export const RECORD_TYPES = ['login', 'pamMachine', 'pamDatabase', 'pamDirectory', 'pamRemoteBrowser', 'pamUser', 'pamConfiguration'] as const;

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

export const passwordComplexitySchema = group({
  length: passwordLength(),
  upper: optionalCount(),
  lower: optionalCount(),
  digits: optionalCount(),
  special: optionalCount(),
  specialChars: optionalSpecialChars(),
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
  passwordComplexity: tagSpec(passwordComplexitySchema.optional(), {
    kind: 'object',
    required: false,
    shape: passwordComplexityShape,
  }),
});

export const pamConfigurationFieldsSchema = group({
  environment: requiredEnum(ENVIRONMENTS),
  gatewayUid: requiredUid(),
  applicationFolderUid: requiredUid(),
  features: tagSpec(featuresSchema.prefault({}), { kind: 'object', required: false, shape: featuresSchema.shape }),
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

/**
 * The names of the fields whose spec is `secret`, in any record type (password, privateKey,
 * trafficEncryptionSeed, …): derived from the schemas, so a new secret field is masked and
 * scrubbed without a second list to keep in step.
 */
export const SECRET_FIELD_NAMES: readonly string[] = (() => {
  const names = new Set<string>();
  const walk = (shape: Record<string, z.ZodType>): void => {
    for (const [name, schema] of Object.entries(shape)) {
      const spec = fieldSpecOf(schema);
      if (spec?.kind === 'secret') names.add(name);
      if (spec?.kind === 'object' && spec.shape) walk(spec.shape);
    }
  };
  for (const schema of Object.values(fieldSchemas)) walk(schema.shape as Record<string, z.ZodType>);
  return [...names];
})();

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
