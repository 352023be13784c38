/** Shared fixtures for the record tests (not exported from index.ts). */
import type { RecordType } from '../record-types.ts';

export const UID_A = 'AAAAAAAAAAAAAAAAAAAAAA';
export const UID_B = 'abcdefghijklmnopqrstuw';
export const UID_C = '0123456789-_012345678g';
export const PEM_KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';

/** One valid `fields` example per record type. */
export const VALID_FIELDS: Record<RecordType, Record<string, unknown>> = {
  login: { login: 'alice', password: ' s3cret ', url: 'https://example.com', oneTimeCode: 'otpauth://totp/x?secret=ABC' },
  pamMachine: {
    hostname: 'local-linux-machine',
    port: 22,
    operatingSystem: 'Linux',
    instanceName: 'vm-1',
    instanceId: 'i-0123',
    providerGroup: 'rg',
    providerRegion: 'us-east-1',
    sslVerification: true,
    pamSettings: {
      configurationUid: UID_A,
      adminCredentialUid: UID_B,
      protocol: 'SSH',
      connection: { port: 22, colorScheme: 'gray-black', recordingIncludeKeys: false },
      recording: { graphical: true },
      allowTunneling: true,
    },
  },
  pamDatabase: { hostname: 'db.internal', port: 3306, databaseId: 'prod', databaseType: 'MySQL', pamSettings: { protocol: 'mysql' } },
  pamDirectory: {
    hostname: 'dc1.example.com',
    port: 636,
    useSSL: true,
    directoryType: 'active_directory',
    domainName: 'EXAMPLE.COM',
    distinguishedName: 'DC=example,DC=com',
  },
  pamRemoteBrowser: { url: 'https://intranet.example.com/login', pamSettings: { protocol: 'http', recording: { graphical: true, typescript: false } } },
  pamUser: {
    login: 'root',
    password: 'hunter2',
    privateKey: PEM_KEY,
    distinguishedName: 'CN=root',
    connectDatabase: 'mysql',
    managed: true,
    passwordComplexity: { length: 40, upper: 2, lower: 2, digits: 2, special: 2, specialChars: '!@#$%^&*' },
  },
  pamConfiguration: {
    environment: 'aws',
    gatewayUid: UID_A,
    applicationFolderUid: UID_B,
    features: { rotation: true, tunneling: true },
    defaultRotationSchedule: 'Daily',
    portMapping: ['2222=ssh', '3390=rdp'],
    networkId: 'My Network',
    networkCidr: '10.0.0.0/16',
    awsId: 'AWS-US-EAST-1',
    accessKeyId: 'AKIA123',
    secretAccessKey: 'abc/def',
    regionNames: ['us-east-2', 'us-west-1'],
  },
};

export const REQUIRED: Record<RecordType, string[]> = {
  login: [],
  pamMachine: ['hostname', 'port'],
  pamDatabase: ['hostname', 'port'],
  pamDirectory: ['hostname', 'port'],
  pamRemoteBrowser: ['url'],
  pamUser: ['login'],
  pamConfiguration: ['environment', 'gatewayUid', 'applicationFolderUid'],
};
