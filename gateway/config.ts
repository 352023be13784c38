/**
 * Where the gateway keeps its configuration and logs, and how it reads and writes them.
 *
 * The configuration (a device configuration from `core/secrets-client`: Router URL and key,
 * client id, the device's private key, the application key) reads every secret shared to the
 * gateway's application, so it is written 0600 in a 0700 directory and a copy readable by
 * anyone else is refused at start. It comes from, in order:
 *
 *   --config FILE
 *   GATEWAY_CONFIG           base64 (or JSON) of the file, for containers
 *   /etc/postern-gateway/gateway-config.json          with --service
 *   $POSTERN_HOME/gateway-config.json                 (POSTERN_HOME defaults to ~/.postern)
 *
 * Logs go to /var/log/postern-gateway/ with --service, else $POSTERN_HOME/logs/.
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PosternError } from '../core/errors.ts';
import { decodeConfig, type SecretsConfig } from '../core/secrets-client/index.ts';

export const GATEWAY_CONFIG_ENV = 'GATEWAY_CONFIG';
export const CONFIG_FILE = 'gateway-config.json';
export const SERVICE_CONFIG_DIR = '/etc/postern-gateway';
export const SERVICE_LOG_DIR = '/var/log/postern-gateway';

export interface LocationOptions {
  config?: string | undefined;
  service?: boolean | undefined;
}

export type ConfigSource = { kind: 'file'; path: string } | { kind: 'env'; name: typeof GATEWAY_CONFIG_ENV };

/** `$POSTERN_HOME` when set, else `~/.postern`. */
export function posternHome(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['POSTERN_HOME'];
  return fromEnv && fromEnv.trim() !== '' ? resolve(fromEnv) : join(homedir(), '.postern');
}

/** The file `init` writes: --config, else the service or the per-user default. */
export function configTarget(options: LocationOptions, env: NodeJS.ProcessEnv): string {
  if (options.config !== undefined) return resolve(options.config);
  return options.service ? join(SERVICE_CONFIG_DIR, CONFIG_FILE) : join(posternHome(env), CONFIG_FILE);
}

/** Where `start` reads the configuration from. */
export function configSource(options: LocationOptions, env: NodeJS.ProcessEnv): ConfigSource {
  if (options.config !== undefined) return { kind: 'file', path: resolve(options.config) };
  const fromEnv = env[GATEWAY_CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { kind: 'env', name: GATEWAY_CONFIG_ENV };
  return { kind: 'file', path: configTarget(options, env) };
}

export function describeSource(source: ConfigSource): string {
  return source.kind === 'file' ? source.path : `$${source.name}`;
}

export function logDirectory(options: { service?: boolean | undefined; logDir?: string | undefined }, env: NodeJS.ProcessEnv): string {
  if (options.logDir !== undefined) return resolve(options.logDir);
  return options.service ? SERVICE_LOG_DIR : join(posternHome(env), 'logs');
}

export function loadGatewayConfig(source: ConfigSource, env: NodeJS.ProcessEnv): SecretsConfig {
  if (source.kind === 'env') {
    try {
      return decodeConfig(env[source.name] ?? '');
    } catch (err) {
      throw new PosternError(
        'bad_request',
        `${source.name}: ${(err as Error).message} Set it to the base64 of gateway-config.json (\`base64 -w0 gateway-config.json\`).`,
      );
    }
  }
  const { path } = source;
  if (!existsSync(path)) {
    throw new PosternError(
      'bad_request',
      `No gateway configuration at ${path}. Run \`postern-gateway init --token TOKEN\`${path.startsWith(SERVICE_CONFIG_DIR) ? ' --service' : ''}, pass --config FILE, or set ${GATEWAY_CONFIG_ENV}.`,
    );
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new PosternError(
      'not_allowed',
      `${path} is accessible by other users (mode ${mode.toString(8)}); it holds the gateway's keys. Run \`chmod 600 ${path}\` and start again.`,
    );
  }
  try {
    return decodeConfig(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof PosternError) throw new PosternError(err.code, `${path}: ${err.message}`);
    throw err;
  }
}

/**
 * Checks, before a one-time token is spent, that `path` can be written: absent (or `force`),
 * and its directory creatable and writable. Creates the directory (0700) when missing.
 */
export function prepareConfigTarget(path: string, options: { force: boolean; privateDir: boolean }): void {
  if (existsSync(path) && !options.force)
    throw new PosternError('conflict', `${path} already exists; pass --force to replace it, or --config to choose another file.`);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (options.privateDir) {
    const st = statSync(dir);
    if ((st.mode & 0o077) !== 0 && typeof process.getuid === 'function' && st.uid === process.getuid()) chmodSync(dir, 0o700);
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new PosternError(
      'not_allowed',
      `Cannot write to ${dir}. Run as a user who can (for --service: root, or the postern-gateway user once ${dir} belongs to it).`,
    );
  }
}

/** The strings in a configuration that are secrets, for the scrubber. */
export function configSecrets(config: SecretsConfig): string[] {
  return [config.privateKey, config.appKey, config.clientId];
}
