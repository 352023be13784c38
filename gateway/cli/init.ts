/**
 * `postern-gateway init --token T`: redeem a one-time gateway token (from `postern gateway
 * create`), which registers a fresh device key with the Router, and write the configuration,
 * mode 0600 in a 0700 directory. The target is checked first: a token is single-use, and one
 * spent on a file that cannot be written is lost.
 */
import { PosternError } from '../../core/errors.ts';
import { encodeConfig, parseOneTimeToken, SecretsClient } from '../../core/secrets-client/index.ts';
import { writePrivateFile } from '../../node/private-file.ts';
import { configTarget, GATEWAY_CONFIG_ENV, prepareConfigTarget } from '../config.ts';
import { printable, type GatewayIo } from './io.ts';

export interface InitOptions {
  token: string;
  config?: string;
  service?: boolean;
  server?: string;
  force?: boolean;
}

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

export async function initGateway(options: InitOptions, io: GatewayIo): Promise<{ path: string; deviceUid: string; appUid: string; server: string }> {
  const path = configTarget(options, io.env);
  prepareConfigTarget(path, { force: options.force === true, privateDir: options.config === undefined });
  // `--token -` reads it from stdin: out of `ps` and the shell history.
  const token = options.token === '-' ? (await readStdin(io.stdin)).trim() : options.token;
  if (token === '') throw new PosternError('bad_request', 'No token on stdin; pipe the one-time token in, or pass it as --token TOKEN.');
  const createOne = 'Create a gateway and its token with `postern gateway create` (or `postern app client add --kind gateway`) and run init again.';
  try {
    parseOneTimeToken(token);
  } catch {
    throw new PosternError(
      'bad_request',
      `The one-time token is malformed: copy it again exactly as \`postern gateway create\` printed it (HOST:PORT:SECRET). ${createOne}`,
    );
  }
  let config: Awaited<ReturnType<typeof SecretsClient.redeemToken>>;
  try {
    config = await SecretsClient.redeemToken(token, options.server ? { server: options.server } : {});
  } catch (err) {
    if (err instanceof PosternError && err.code === 'unauthorized') {
      throw new PosternError(
        'unauthorized',
        `The Router does not know this one-time token: it was never issued there, or its gateway was removed. ${createOne}`,
      );
    }
    if (err instanceof PosternError && err.code === 'token_expired') {
      throw new PosternError(
        'token_expired',
        'The one-time gateway token has expired. Create a new one (`postern gateway create`, or `postern app client add --kind gateway`) and run init again.',
      );
    }
    if (err instanceof PosternError && err.code === 'bad_state') {
      throw new PosternError('bad_state', 'This one-time token was already used to initialise a gateway; a token works once. Create a new gateway token.');
    }
    throw err;
  }
  writePrivateFile(path, `${encodeConfig(config, 'json')}\n`, { overwrite: options.force === true });
  const out = (line: string) => io.stdout.write(`${printable(line)}\n`);
  out(`Gateway ${config.deviceUid} (application ${config.appUid}) registered with ${config.server}.`);
  out(`Configuration written to ${path} (mode 0600). It holds the gateway's keys: keep it as secret as a password.`);
  out(`Start the gateway with: postern-gateway start${options.service ? ' --service' : options.config !== undefined ? ` --config ${path}` : ''}`);
  out(`For a container, pass it as ${GATEWAY_CONFIG_ENV}="$(base64 -w0 ${path})".`);
  if (io.env[GATEWAY_CONFIG_ENV] && options.config === undefined) {
    io.stderr.write(`postern-gateway: warning: ${GATEWAY_CONFIG_ENV} is set in this environment; \`start\` uses it instead of ${printable(path)}.\n`);
  }
  return { path, deviceUid: config.deviceUid, appUid: config.appUid, server: config.server };
}
