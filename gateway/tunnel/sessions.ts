/**
 * The gateway's tunnel sessions: one werift peer connection per `webrtc-session`, answering a
 * vault's sealed offer, and on its data channel a TunnelMux that dials only the resource's
 * host and port (or the PAM configuration's port mappings on that host).
 *
 * A session ends when the mux closes (the vault left, keepalive lost, channel closed), when ICE
 * fails, when no data channel opens within SETUP_TIMEOUT_MS, or when the gateway stops.
 */
import { PosternError } from '../../core/errors.ts';
import { deriveSignallingKey, OFFER_MAX_AGE_MS, openSignallingOffer, sealSignalling, type SignallingAnswer } from '../../core/protocol/webrtc-signalling.ts';
import { parsePortMappingEntry } from '../../core/records/index.ts';
import { TunnelMux, type TunnelTarget } from '../../core/tunnel/mux.ts';
import { frameChannelOf } from '../../node/webrtc/datachannel.ts';
import {
  createPeerConnection,
  DEFAULT_SCTP_PACKET,
  POSTERN_SCTP_MAX_PACKET,
  startSctpPathMtuDiscovery,
  waitForIceGatheringComplete,
  type RTCIceServer,
  type RTCPeerConnection,
} from '../../node/webrtc/peer.ts';
import { ReplayGuard } from './replay-guard.ts';
import type { TargetPolicy } from '../targets/target-policy.ts';
import { targetDialer } from './target-dialer.ts';
import type { Logger } from '../../core/logger.ts';

export const SETUP_TIMEOUT_MS = 30_000;
const GATHER_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_SESSIONS = 64;

export interface AnswerRequest {
  resourceUid: string;
  /** The decrypted resource record's fields (hostname, port, trafficEncryptionSeed). */
  resource: { hostname?: unknown; port?: unknown; trafficEncryptionSeed?: unknown };
  /** The PAM configuration's port mappings (`2222=ssh`), if any. */
  portMapping: readonly string[];
  /** The PAM configuration's target policy (metadata addresses, targetNetworks). */
  targetPolicy?: TargetPolicy;
  sessionId: string;
  sealedOffer: unknown;
  iceServers: RTCIceServer[];
}

interface Session {
  id: string;
  resourceUid: string;
  pc: RTCPeerConnection;
  mux: TunnelMux | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  startedAt: number;
}

export interface TunnelSessionInfo {
  sessionId: string;
  resourceUid: string;
  startedAt: number;
  connections: number;
}

/** Where this resource lets a tunnel go: the record's host and port, then mapped ports on that host. */
export function allowedTargets(resource: AnswerRequest['resource'], portMapping: readonly string[]): TunnelTarget[] {
  const host = typeof resource.hostname === 'string' ? resource.hostname.trim() : '';
  const port = typeof resource.port === 'number' ? resource.port : Number(resource.port);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PosternError('bad_state', 'The resource record names no hostname and port to tunnel to.');
  }
  const targets: TunnelTarget[] = [{ host, port }];
  for (const entry of portMapping) {
    const canonical = parsePortMappingEntry(entry); // "2222=ssh", or undefined when malformed
    if (!canonical) continue;
    const mapped = Number(canonical.split('=')[0]);
    if (!targets.some((t) => t.port === mapped)) targets.push({ host, port: mapped });
  }
  return targets;
}

export class TunnelSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly replays = new ReplayGuard(2 * OFFER_MAX_AGE_MS);
  private stopped = false;

  constructor(
    private readonly logger: Logger,
    private readonly options: { maxSessions?: number; now?: () => number } = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  list(): TunnelSessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      sessionId: s.id,
      resourceUid: s.resourceUid,
      startedAt: s.startedAt,
      connections: s.mux?.connections().length ?? 0,
    }));
  }

  /** Opens the offer, answers it, and keeps the session until it ends. Throws PosternError to refuse. */
  async answer(request: AnswerRequest): Promise<{ sealedAnswer: string; target: TunnelTarget }> {
    if (this.stopped) throw new PosternError('bad_state', 'The gateway is stopping.');
    const max = this.options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (this.sessions.size >= max) throw new PosternError('bad_state', `This gateway already runs ${max} tunnel sessions; close one first.`);
    const seed = request.resource.trafficEncryptionSeed;
    if (typeof seed !== 'string' || seed === '') {
      throw new PosternError(
        'bad_state',
        `Resource ${request.resourceUid} has no trafficEncryptionSeed; save it again from the vault (\`postern tunnel start\` adds one).`,
      );
    }
    const key = deriveSignallingKey(seed, request.resourceUid);
    const now = this.now();
    const offer = await openSignallingOffer(key, request.resourceUid, request.sessionId, request.sealedOffer, now);
    if (!this.replays.accept(offer.sessionId, now))
      throw new PosternError('replayed', `Session ${offer.sessionId} was already answered; the vault must start a new one.`);
    const allowed = allowedTargets(request.resource, request.portMapping);

    const pc = createPeerConnection({ iceServers: request.iceServers });
    const session: Session = { id: offer.sessionId, resourceUid: request.resourceUid, pc, mux: null, timer: undefined, startedAt: now };
    this.sessions.set(session.id, session);
    session.timer = setTimeout(() => {
      if (!session.mux) this.end(session, 'no data channel opened in time');
    }, SETUP_TIMEOUT_MS);
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') this.end(session, `peer connection ${state}`);
    });
    pc.onDataChannel.subscribe((dc) => {
      if (session.mux) {
        dc.close(); // one channel per session: anything else is not ours
        return;
      }
      const start = () => {
        if (session.mux || !this.sessions.has(session.id)) return;
        clearTimeout(session.timer);
        const mux = new TunnelMux(frameChannelOf(dc), {
          role: 'gateway',
          dial: targetDialer({ allowed, connectTimeoutMs: 10_000, ...(request.targetPolicy ? { policy: request.targetPolicy } : {}) }),
        });
        session.mux = mux;
        void startSctpPathMtuDiscovery(pc, offer.sctpMaxPacket).then((sctpPacketBytes) => {
          if (sctpPacketBytes > DEFAULT_SCTP_PACKET) this.logger.info({ sessionId: session.id, sctpPacketBytes }, 'tunnel path takes larger SCTP packets');
        });
        this.logger.info({ sessionId: session.id, resourceUid: session.resourceUid }, 'tunnel session open');
        mux.onClosed((reason, message) => this.end(session, `tunnel closed: ${reason}${message ? ` (${message})` : ''}`));
      };
      if (dc.readyState === 'open') start();
      else dc.stateChanged.subscribe((state) => state === 'open' && start());
    });

    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.description.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await waitForIceGatheringComplete(pc, GATHER_TIMEOUT_MS);
      const sdp = pc.localDescription?.sdp;
      if (!sdp) throw new PosternError('internal', 'werift produced no local description');
      const message: SignallingAnswer = {
        v: 1,
        sessionId: session.id,
        description: { type: 'answer', sdp },
        target: allowed[0]!,
        sctpMaxPacket: POSTERN_SCTP_MAX_PACKET,
      };
      return { sealedAnswer: await sealSignalling(key, request.resourceUid, message), target: allowed[0]! };
    } catch (err) {
      this.end(session, 'answer failed');
      if (err instanceof PosternError) throw err;
      throw new PosternError('bad_request', `The offer could not be answered: ${(err as Error).message}`);
    }
  }

  private end(session: Session, why: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    clearTimeout(session.timer);
    session.mux?.close('shutdown', why.slice(0, 120));
    void session.pc.close().catch(() => {});
    this.logger.info({ sessionId: session.id, resourceUid: session.resourceUid, why }, 'tunnel session ended');
  }

  /** Closes every session (the gateway is stopping); local sockets on the vault side see `shutdown`. */
  stop(): void {
    this.stopped = true;
    for (const session of [...this.sessions.values()]) this.end(session, 'the gateway is stopping');
  }
}
