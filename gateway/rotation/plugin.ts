/**
 * The one small interface every rotation target implements: change a user's credential, and
 * log in with a credential to see whether the target accepts it. Adding a target is one file
 * in ./plugins/ and one entry in ./plugins/index.ts.
 *
 * The engine (./engine.ts) owns the order of things and the vault side (pending rotation
 * transaction, finalize, roll back); a plugin only talks to its target. It never logs or
 * returns a secret: every secret the gateway holds is scrubbed from logs anyway, but a plugin
 * does not count on that, and its error messages name hosts, users and codes only.
 */
import type { GatewayOptions } from '../../core/records/custom-fields.ts';

/** A password, or an OpenSSH key pair (private key in OpenSSH PEM, public key as an authorized_keys line). */
export type Credential = { kind: 'password'; password: string } | { kind: 'key'; privateKey: string; publicKey: string; passphrase?: string };

/** Who logs in: the user being rotated, or the admin acting on its behalf. */
export interface Account {
  login: string;
  /** pamUser `distinguishedName` (LDAP bind DN); when absent, plugins derive it if they can. */
  distinguishedName?: string;
  /** pamUser `connectDatabase`: the database to connect to (PostgreSQL; default `postgres`). */
  connectDatabase?: string;
  credential: Credential;
}

/** The resource record's connection fields (pamMachine, pamDatabase or pamDirectory). */
export interface Endpoint {
  type: 'pamMachine' | 'pamDatabase' | 'pamDirectory';
  hostname: string;
  port: number;
  /** pamDatabase/pamDirectory `useSSL`: TLS is required when true. */
  useSSL: boolean;
  /**
   * `useSSL` unset on a pamDatabase: TLS when the server offers it, plaintext when it says it has
   * none (docs/decisions/0006-target-trust.md). LDAP ignores it: LDAPS is chosen explicitly.
   */
  preferTls?: boolean;
  /** Whether to verify the TLS certificate (see the engine's endpointOf for the rule). */
  verifyTls: boolean;
  /** `sslCaCertificate`: PEM CA certificate(s) the server's certificate must chain to. */
  caCertificate?: string;
  /** pamMachine `hostKey`: pinned SSH host keys, one per line (`type base64` or `SHA256:…`). */
  hostKey?: string;
  /** The record that holds these fields, for messages. */
  resourceUid?: string;
  databaseType?: string;
  directoryType?: string;
  /** pamDirectory `distinguishedName`: the base DN. */
  baseDn?: string;
  domainName?: string;
}

export interface RotationTarget {
  endpoint: Endpoint;
  /** The pamUser being rotated, with its current credential (what the vault holds now). */
  user: Account;
  /** The resource's admin credential (pamSettings.adminCredentialUid); null: the user rotates itself. */
  admin: Account | null;
  /** Gateway custom fields of the pamUser (Shell, NOOP, Private Key Type, ...). */
  options: GatewayOptions;
  /** Aborted when the job is cancelled; plugins stop waiting and close what they opened. */
  signal: AbortSignal;
  /** A line for the job log (scrubbed again before it leaves). Hosts, users, codes; no secrets. */
  log(line: string): void;
  /** Connect and command timeout per network step, in ms. */
  timeoutMs: number;
  /**
   * Record a host key seen for the first time into the resource (trust on first use). Absent
   * when the engine cannot write the resource; it throws when the write is refused.
   */
  pinHostKey?(hostKey: string): Promise<void>;
}

/**
 * Why a step failed, for the job's message and for the engine's decision:
 *  - `unreachable`: no connection (refused, timeout, DNS, TLS handshake).
 *  - `admin_refused`: the admin credential (or, self-rotating, the user's current one) was refused.
 *  - `policy_refused`: the target refused the new secret (password policy, history, ...).
 *  - `not_found`: the user does not exist on the target.
 *  - `unsupported`: this plugin cannot do that (e.g. a key type it cannot generate).
 *  - `host_key_mismatch`: the SSH server showed a host key other than the pinned one; nothing was sent.
 *  - `host_key_unpinned`: no host key is pinned and the one seen could not be recorded.
 *  - `failed`: anything else, with the target's own error code in the message.
 */
export type RotationFailureReason =
  | 'unreachable'
  | 'admin_refused'
  | 'policy_refused'
  | 'not_found'
  | 'unsupported'
  | 'host_key_mismatch'
  | 'host_key_unpinned'
  | 'failed';

export class RotationFailure extends Error {
  constructor(
    readonly reason: RotationFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'RotationFailure';
  }
}

export interface RotationPlugin {
  /** Short name for logs and job lines: `ssh`, `postgresql`, `mysql`, `ldap`. */
  readonly name: string;
  /**
   * Set `target.user`'s credential on the target to `next` (same kind as the user's current
   * one). Uses `target.admin` when present, else the user's own current credential. Resolves
   * once the target has committed the change; throws RotationFailure otherwise, and then the
   * target must still hold the old credential wherever the target allows that guarantee.
   */
  change(target: RotationTarget, next: Credential): Promise<void>;
  /**
   * Log in as `target.user` with `credential`. True: accepted. False: refused as a wrong
   * credential. Throws RotationFailure (`unreachable`, ...) when it cannot tell.
   */
  verify(target: RotationTarget, credential: Credential): Promise<boolean>;
  /**
   * Optional: make a new key credential of the right algorithm and size for this target
   * (SSH keeps the current key's algorithm and size unless `Private Key Type` says otherwise).
   * Password credentials are generated by the engine from the complexity rules.
   */
  newKey?(target: RotationTarget): Promise<Credential>;
  /**
   * Optional: check that the target is the one the record names before any secret is stored or
   * sent (SSH: the host key against the pin, or pin it on first use). Throws RotationFailure.
   */
  checkTarget?(target: RotationTarget): Promise<void>;
}
