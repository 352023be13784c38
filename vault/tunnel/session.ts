/**
 * The vault's side of a tunnel session: make a WebRTC offer (werift, only the Router's Relay as
 * ICE server), seal it with the resource's signalling key, send it as the `webrtc-session`
 * action, open the gateway's sealed answer, and run the tunnel multiplexer on the data channel.
 */
import { PosternError } from '../../core/errors.ts';
import { parseActionResult } from '../../core/protocol/actions.ts';
import type { ActionOutcome } from '../../core/protocol/vault-api.ts';
import { deriveSignallingKey, newSignallingSessionId, openSignallingAnswer, sealSignalling } from '../../core/protocol/webrtc-signalling.ts';
import { isResourceRecordType, type RecordData } from '../../core/records/index.ts';
import { TunnelMux, type TunnelMuxOptions, type TunnelTarget } from '../../core/tunnel/mux.ts';
import { frameChannelOf } from '../../node/webrtc/datachannel.ts';
import {
  createPeerConnection,
  DEFAULT_SCTP_PACKET,
  POSTERN_SCTP_MAX_PACKET,
  sctpPacketBytes,
  startSctpPathMtuDiscovery,
  waitForIceGatheringComplete,
  type RTCPeerConnection,
} from '../../node/webrtc/peer.ts';
import { withTrafficSeed, type VaultClient } from '../../core/vault-client/index.ts';

const GATHER_TIMEOUT_MS = 5_000;
const CHANNEL_OPEN_TIMEOUT_MS = 20_000;
export const TUNNEL_CHANNEL_LABEL = 'postern-tunnel';

export interface TunnelSessionOptions {
  resourceUid: string;
  /** Default: the resource's pamSettings.configurationUid. */
  configurationUid?: string | undefined;
  /** Only TURN-relayed paths (iceTransportPolicy "relay"). */
  relayOnly?: boolean | undefined;
  /** Progress lines for the person waiting ("gathering candidates", …). */
  progress?: ((line: string) => void) | undefined;
  mux?: Omit<TunnelMuxOptions, 'role' | 'dial'> | undefined;
}

export interface TunnelSession {
  sessionId: string;
  resourceUid: string;
  configurationUid: string;
  gatewayUid: string | undefined;
  /** What the gateway dials when the vault names no target. */
  target: TunnelTarget;
  mux: TunnelMux;
  /** The selected ICE pair's candidate types, e.g. "host→host", and the SCTP packet size when larger than the default. */
  path(): string;
  /** Resolves with path() once SCTP path MTU discovery has settled (see node/webrtc/sctp-path-mtu.ts). */
  pathSettled: Promise<string>;
  close(reason?: string): Promise<void>;
}

/** The gateway (or the Router on its behalf) answered the `webrtc-session` action with something other than ok. */
export class TunnelRefused extends Error {
  constructor(readonly outcome: ActionOutcome) {
    super(outcome.message ?? outcome.code);
    this.name = 'TunnelRefused';
  }
}

/** The resource's seed, adding one (an edit) when a record made before tunnels has none. */
async function signallingSeed(vault: VaultClient, resourceUid: string, data: RecordData): Promise<string> {
  const seed = (data.fields as { trafficEncryptionSeed?: string }).trafficEncryptionSeed;
  if (seed) return seed;
  try {
    const updated = await vault.updateRecord(resourceUid, (current) => withTrafficSeed(current));
    return (updated.data.fields as { trafficEncryptionSeed: string }).trafficEncryptionSeed;
  } catch (err) {
    if (err instanceof PosternError && err.code === 'not_allowed') {
      throw new PosternError(
        'bad_state',
        `Resource ${resourceUid} has no tunnel seed yet, and you cannot edit it. Ask its owner to run \`postern tunnel start ${resourceUid}\` once (it adds one).`,
      );
    }
    throw err;
  }
}

/** The ICE candidate types of the selected pair, e.g. "host→host" or "relay→relay". */
function selectedPath(pc: RTCPeerConnection): string {
  const pair = pc.iceTransports[0]?.getSelectedCandidatePair();
  const type = (c: { candidate: string }) => / typ (\w+)/.exec(c.candidate)?.[1] ?? '?';
  if (!pair) return 'unknown';
  const packet = sctpPacketBytes(pc);
  if (packet <= DEFAULT_SCTP_PACKET) return `${type(pair.local)}→${type(pair.remote)}`;
  return `${type(pair.local)}→${type(pair.remote)} (${packet % 1024 === 0 ? `${packet / 1024} KiB` : `${packet}-byte`} packets)`;
}

export async function openTunnelSession(vault: VaultClient, options: TunnelSessionOptions): Promise<TunnelSession> {
  const progress = options.progress ?? (() => {});
  const record = await vault.getRecord(options.resourceUid);
  if (!isResourceRecordType(record.data.type)) {
    throw new PosternError('bad_request', `Record ${options.resourceUid} is a ${record.data.type}; tunnels go to a pamMachine, pamDatabase or pamDirectory.`);
  }
  const configurationUid = options.configurationUid ?? (record.data.fields as { pamSettings?: { configurationUid?: string } }).pamSettings?.configurationUid;
  if (!configurationUid) {
    throw new PosternError('bad_request', `Resource ${options.resourceUid} names no PAM configuration (pamSettings.configurationUid): pass --config.`);
  }
  const seed = await signallingSeed(vault, options.resourceUid, record.data);
  const key = deriveSignallingKey(seed, options.resourceUid);

  const { iceServers } = await vault.relayCredentials();
  if (options.relayOnly && iceServers.length === 0)
    throw new PosternError(
      'bad_state',
      'The Router runs no Relay, so --relay-only cannot work; start the Router with its embedded Relay, or drop --relay-only.',
    );
  const pc = createPeerConnection({ iceServers, iceTransportPolicy: options.relayOnly ? 'relay' : 'all' });
  const sessionId = newSignallingSessionId();
  try {
    const dc = pc.createDataChannel(TUNNEL_CHANNEL_LABEL, { ordered: true });
    progress(
      iceServers.length ? 'gathering ICE candidates (direct and through the Relay)' : 'gathering ICE candidates (direct only: the Router runs no Relay)',
    );
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGatheringComplete(pc, GATHER_TIMEOUT_MS);
    const sdp = pc.localDescription?.sdp;
    if (!sdp) throw new PosternError('internal', 'werift produced no offer');
    const offer = await sealSignalling(key, options.resourceUid, {
      v: 1,
      sessionId,
      issuedAt: Date.now(),
      description: { type: 'offer', sdp },
      sctpMaxPacket: POSTERN_SCTP_MAX_PACKET,
    });

    progress('asking the gateway (through the Router, end-to-end encrypted)');
    const outcome = await vault.action('webrtc-session', { recordUid: options.resourceUid, configurationUid, params: { sessionId, offer } });
    if (outcome.code !== 'ok') throw new TunnelRefused(outcome);
    const answer = await openSignallingAnswer(key, options.resourceUid, sessionId, parseActionResult('webrtc-session', outcome.data).answer);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.description.sdp });

    progress('connecting (ICE, DTLS, SCTP)');
    await new Promise<void>((resolve, reject) => {
      if (dc.readyState === 'open') return resolve();
      const timer = setTimeout(
        () =>
          reject(
            new PosternError(
              'bad_state',
              `The data channel to the gateway did not open within ${CHANNEL_OPEN_TIMEOUT_MS / 1000} s (no network path${options.relayOnly ? ' through the Relay' : ''}?).`,
            ),
          ),
        CHANNEL_OPEN_TIMEOUT_MS,
      );
      dc.stateChanged.subscribe((state) => {
        if (state === 'open') {
          clearTimeout(timer);
          resolve();
        } else if (state === 'closed') {
          clearTimeout(timer);
          reject(new PosternError('bad_state', 'The gateway closed the data channel while it was opening.'));
        }
      });
      pc.connectionStateChange.subscribe((state) => {
        if (state === 'failed') {
          clearTimeout(timer);
          reject(new PosternError('bad_state', `No network path to the gateway (ICE failed${options.relayOnly ? ' through the Relay' : ''}).`));
        }
      });
    });
    // Larger SCTP packets where the path and the gateway take them (the gateway probes its way too).
    const pathSettled = startSctpPathMtuDiscovery(pc, answer.sctpMaxPacket).then(() => selectedPath(pc));
    const mux = new TunnelMux(frameChannelOf(dc), { role: 'client', ...options.mux });
    mux.onClosed(() => void pc.close().catch(() => {}));
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') mux.close('channel_closed', `the WebRTC connection ${state}`);
    });
    return {
      sessionId,
      resourceUid: options.resourceUid,
      configurationUid,
      gatewayUid: outcome.gatewayUid,
      target: answer.target,
      mux,
      path: () => selectedPath(pc),
      pathSettled,
      async close(reason = 'closed by the user') {
        mux.close('shutdown', reason.slice(0, 120));
        await pc.close().catch(() => {});
      },
    };
  } catch (err) {
    await pc.close().catch(() => {});
    throw err;
  }
}
