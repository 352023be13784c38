/**
 * The vault's wire: seal a command to the Router's key, POST it, open the sealed answer.
 * Runtime-agnostic (fetch only) so the CLI, tests and a browser vault share it.
 */
import { fromBase64Url, toBase64Url } from '../crypto/index.ts';
import { isErrorCode, PosternError } from '../errors.ts';
import { openJson, ReusedTransmissionKey, sealWithKey, sessionIdOf, toWireEnvelope, VAULT_SESSION_HEADER, vaultRequestFrame } from '../protocol/envelope.ts';
import type { VaultCommand, VaultRequest, VaultResponses } from '../protocol/vault-api.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export function normaliseServerUrl(server: string): string {
  const trimmed = server.trim().replace(/\/+$/, '');
  if (/^https?:\/\//.test(trimmed)) return trimmed;
  // A bare host is https, except on loopback where a local Router speaks plain http.
  return /^(localhost|127\.|\[::1\])/.test(trimmed) ? `http://${trimmed}` : `https://${trimmed}`;
}

export async function errorFromResponse(response: Response): Promise<PosternError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: fall through
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (error && isErrorCode(error.code) && typeof error.message === 'string') {
    return new PosternError(error.code, error.message, (error.details as Record<string, unknown>) ?? undefined);
  }
  return new PosternError('internal', `The server answered HTTP ${response.status} without a Postern error body.`);
}

/** The Router's published keys: the ECIES key requests are sealed to, and the key its signed statements verify with. */
export interface RouterPublicKeys {
  publicKey: Uint8Array;
  /** Absent from Routers older than script approvals. */
  signingKey: Uint8Array | null;
}

export async function fetchRouterKeys(server: string, fetchImpl: FetchLike = fetch): Promise<RouterPublicKeys> {
  let response: Response;
  try {
    response = await fetchImpl(`${normaliseServerUrl(server)}/api/v1/router-key`);
  } catch (err) {
    throw new PosternError('unreachable', `Cannot reach the Postern server at ${normaliseServerUrl(server)}: ${describeFetchError(err)}`);
  }
  if (!response.ok) throw await errorFromResponse(response);
  const { publicKey, signingKey } = (await response.json()) as { publicKey: string; signingKey?: string };
  return { publicKey: fromBase64Url(publicKey), signingKey: typeof signingKey === 'string' ? fromBase64Url(signingKey) : null };
}

export async function fetchRouterPublicKey(server: string, fetchImpl: FetchLike = fetch): Promise<Uint8Array> {
  return (await fetchRouterKeys(server, fetchImpl)).publicKey;
}

export class VaultTransport {
  readonly server: string;
  readonly routerPublicKey: Uint8Array;
  private readonly fetchImpl: FetchLike;
  private readonly transmissionKey: ReusedTransmissionKey;

  constructor(server: string, routerPublicKey: Uint8Array, fetchImpl: FetchLike = fetch) {
    this.server = normaliseServerUrl(server);
    this.routerPublicKey = routerPublicKey;
    this.fetchImpl = fetchImpl;
    this.transmissionKey = new ReusedTransmissionKey(routerPublicKey);
  }

  static async connect(server: string, pinnedKey?: Uint8Array, fetchImpl: FetchLike = fetch): Promise<VaultTransport> {
    const key = pinnedKey ?? (await fetchRouterPublicKey(server, fetchImpl));
    return new VaultTransport(server, key, fetchImpl);
  }

  get routerPublicKeyB64(): string {
    return toBase64Url(this.routerPublicKey);
  }

  async call<C extends VaultCommand>(command: C, body: VaultRequest<C>, session?: string): Promise<VaultResponses[C]> {
    // A fresh timestamp and nonce in every sealed request: the Router refuses one it has seen.
    // The transmission key is reused across requests, so the Router unwraps it only once.
    const sealed = await sealWithKey(await this.transmissionKey.next(), `vault/${command}`, vaultRequestFrame(body, session));
    // The session id (not the token) lets the Router refuse a request before reading its body.
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (session !== undefined) headers[VAULT_SESSION_HEADER] = sessionIdOf(session);
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.server}/api/v1/vault/${command}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(toWireEnvelope(sealed)),
      });
    } catch (err) {
      throw new PosternError('unreachable', `Cannot reach the Postern server at ${this.server}: ${describeFetchError(err)}`);
    }
    if (!response.ok) throw await errorFromResponse(response);
    const { payload } = (await response.json()) as { payload: string };
    return (await openJson(sealed.transmissionKey, `vault/${command}/response`, fromBase64Url(payload))) as VaultResponses[C];
  }
}

/** fetch() says only "fetch failed"; the useful part (ECONNREFUSED, a reset…) is in `cause`. */
export function describeFetchError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message ?? 'fetch failed'} (${cause})` : (e.message ?? String(err));
}
