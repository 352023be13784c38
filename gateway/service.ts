/**
 * The running gateway: its link to the Router, the actions it answers, the jobs it runs, and
 * a status that can be shown to anyone (no keys, no record content).
 */
import { equalBytes, fromBase64Url } from '../core/crypto/index.ts';
import { PosternError } from '../core/errors.ts';
import type { SecretsConfig } from '../core/secrets-client/index.ts';
import { SecretsClient } from '../core/secrets-client/index.ts';
import { fetchRouterKeys, type FetchLike } from '../core/vault-client/transport.ts';
import { dispatchAction, type ActionContext, type SecretsReader } from './actions/index.ts';
import { configSecrets } from './config.ts';
import { RouterLink, type LinkError, type LinkState, type RouterLinkOptions } from './link/router-link.ts';
import type { SecretScrubber } from './logging/scrubber.ts';
import type { ScriptUser } from './rotation/script-user.ts';
import { JobTracker, type JobView } from './jobs.ts';
import { TunnelSessions } from './tunnel/sessions.ts';
import type { Logger } from '../core/logger.ts';

export type LinkTuning = Partial<Pick<RouterLinkOptions, 'backoff' | 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'handshakeTimeoutMs' | 'stableAfterMs'>>;

export interface GatewayServiceOptions {
  config: SecretsConfig;
  version: string;
  logger: Logger;
  scrubber: SecretScrubber;
  link?: LinkTuning;
  /** Defaults to a SecretsClient over the configuration. */
  secrets?: SecretsReader;
  /** Post-rotation scripts: the account they run as (resolved at start) and their time limit. */
  scripts?: { runAs?: ScriptUser; timeoutMs?: number };
  /** For fetching the Router's signing key when the configuration predates it. */
  fetch?: FetchLike;
}

/** What `status` shows: nothing here is a secret. */
export interface GatewayStatus {
  version: string;
  state: LinkState;
  gatewayUid: string | null;
  deviceUid: string;
  router: string;
  startedAt: number;
  connectedSince: number | null;
  reconnectAttempts: number;
  connections: number;
  lastError: LinkError | null;
  runningTasks: number;
  pendingJobUpdates: number;
}

export class GatewayService {
  readonly link: RouterLink;
  readonly tasks: JobTracker;
  readonly tunnels: TunnelSessions;
  readonly startedAt = Date.now();
  private readonly actionContext: ActionContext;
  private stopping: Promise<void> | null = null;
  private fetchedSigningKey: Promise<Uint8Array> | null = null;

  constructor(private readonly options: GatewayServiceOptions) {
    const { config, logger, scrubber } = options;
    scrubber.add(...configSecrets(config));
    let link: RouterLink | null = null;
    this.tunnels = new TunnelSessions(logger);
    this.tasks = new JobTracker({ sink: { sendJob: (u) => link?.sendJob(u) ?? false }, scrubber, logger });
    this.actionContext = {
      version: options.version,
      gatewayUid: () => link?.gatewayUid ?? null,
      connectedSince: () => link?.connectedSince ?? null,
      startedAt: this.startedAt,
      tasks: this.tasks,
      tunnels: this.tunnels,
      secrets: options.secrets ?? new SecretsClient(config),
      scrubber,
      logger,
      scripts: { ...options.scripts, routerSigningKey: () => this.routerSigningKey() },
    };
    link = new RouterLink({
      server: config.server,
      clientId: config.clientId,
      privateKey: config.privateKey,
      version: options.version,
      logger,
      ...options.link,
      onAction: (frame) => dispatchAction(frame, this.actionContext),
      onStateChange: (state, detail) => {
        if (state === 'online') this.tasks.flush();
        if (state === 'waiting' && detail) logger.debug({ code: detail.code }, 'router link down');
      },
    });
    this.link = link;
  }

  start(): void {
    this.options.logger.info(
      { version: this.options.version, router: this.options.config.server, deviceUid: this.options.config.deviceUid },
      'gateway starting',
    );
    this.link.start();
    if (!this.options.config.routerSigningKey) {
      this.routerSigningKey().catch((err: unknown) =>
        this.options.logger.warn(
          { err: this.options.scrubber.scrubError(err) },
          'could not fetch the Router signing key; post-rotation scripts do not run until it is fetched',
        ),
      );
    }
  }

  /**
   * The key script approvals are checked with: the one pinned at init; for a configuration
   * written before keys were pinned, fetched once from the configured Router (after a failure,
   * again on next use) and only if that Router still answers with the key pinned for requests.
   */
  routerSigningKey(): Promise<Uint8Array> {
    const { config, logger } = this.options;
    if (config.routerSigningKey) return Promise.resolve(fromBase64Url(config.routerSigningKey));
    if (this.fetchedSigningKey) return this.fetchedSigningKey;
    const pending = fetchRouterKeys(config.server, this.options.fetch).then((keys) => {
      if (!equalBytes(keys.publicKey, fromBase64Url(config.routerPublicKey))) {
        throw new PosternError(
          'not_allowed',
          `The Router at ${config.server} now answers with another key than the one this gateway was initialised with; its signing key is not trusted. Re-initialise the gateway with a new token.`,
        );
      }
      if (!keys.signingKey)
        throw new PosternError('bad_state', `The Router at ${config.server} publishes no signing key (a version older than script approvals).`);
      logger.warn(
        { router: config.server },
        'the configuration does not pin the Router signing key (it predates script approvals); it was fetched from the Router for this run. Re-initialise the gateway (postern-gateway init --token TOKEN --force) to pin it',
      );
      return keys.signingKey;
    });
    this.fetchedSigningKey = pending;
    pending.catch(() => {
      if (this.fetchedSigningKey === pending) this.fetchedSigningKey = null;
    });
    return pending;
  }

  status(): GatewayStatus {
    return {
      version: this.options.version,
      state: this.link.state,
      gatewayUid: this.link.gatewayUid,
      deviceUid: this.options.config.deviceUid,
      router: this.options.config.server,
      startedAt: this.startedAt,
      connectedSince: this.link.connectedSince,
      reconnectAttempts: this.link.attempts,
      connections: this.link.connections,
      lastError: this.link.lastError,
      runningTasks: this.tasks.runningCount,
      pendingJobUpdates: this.tasks.pendingUpdates,
    };
  }

  runningTasks(): JobView[] {
    return this.tasks.running();
  }

  recentTasks(): JobView[] {
    return this.tasks.all();
  }

  /** Cancels running jobs (reported to the Router while the link is still up), then closes the link. Idempotent. */
  stop(reason = 'gateway stopping'): Promise<void> {
    this.stopping ??= (async () => {
      this.options.logger.info({ reason, runningTasks: this.tasks.runningCount }, 'gateway stopping');
      this.tasks.abortAll(`The gateway stopped (${reason}) before the job ended.`);
      await this.tasks.settled();
      this.tunnels.stop();
      await this.link.stop();
      this.options.logger.info({}, 'gateway stopped');
    })();
    return this.stopping;
  }
}
