/**
 * Postern's changes to werift are a patch set, not run-time code: `patches/werift+0.24.4+NNN+<change>.patch`,
 * one file per change, applied in order by patch-package when the dependencies are installed
 * (package.json `postinstall`, with --error-on-fail and --error-on-warn, so a patch that no longer
 * applies, or a werift version other than the one the patches were written for, fails the
 * install). docs/upstream/werift.md describes each change as it would be offered upstream;
 * docs/decisions/0013-werift-patch-set.md says why a patch set and not run-time patching.
 *
 * What is left at run time is this check: the patched werift exports `posternPatches`, the
 * names of the changes in the order they were applied. An install that skipped the scripts
 * (`npm ci --ignore-scripts`) has stock werift, which works but is several times slower, sends
 * STUN to a public server when none is configured and never releases TURN allocations: Postern
 * refuses to run on it and says how to repair the install.
 */
import * as werift from 'werift';

/** The changes, in patch order (patches/werift+0.24.4+NNN+<name>.patch). */
export const WERIFT_PATCHES = [
  'ice-no-implicit-stun',
  'udp-socket-buffers',
  'udp-send-isip-cache',
  'dtls-record-fastpath',
  'turn-channel-fastpath',
  'turn-release-on-close',
  'sctp-packet-fastpath',
  'sctp-sack-coalescing',
  'sctp-tsn-tracking',
  'sctp-rto-min',
  'sctp-send-completion',
  'sctp-retransmit-scan',
  'sctp-path-mtu',
] as const;
export type WeriftPatchName = (typeof WERIFT_PATCHES)[number];

/**
 * Set to 1 to run on stock werift on purpose (test/bench/tunnel's "unpatched" row loads the
 * `werift-stock` package in place of `werift`). Never for production.
 */
export const ALLOW_STOCK_WERIFT_ENV = 'POSTERN_ALLOW_STOCK_WERIFT';

export type WeriftBuild = 'patched' | 'stock';

const REPAIR =
  'Reinstall the dependencies in the Postern directory with `npm ci`, which applies patches/werift+*.patch ' +
  '(an install run with --ignore-scripts must run `npx patch-package --error-on-fail` after it).';

/**
 * 'patched' when werift carries exactly Postern's patch set; 'stock' when it carries none and
 * POSTERN_ALLOW_STOCK_WERIFT=1; throws otherwise, with what to do about it.
 */
export function checkWeriftPatches(applied: readonly string[] | undefined, env: Record<string, string | undefined>): WeriftBuild {
  if (applied === undefined) {
    if (env[ALLOW_STOCK_WERIFT_ENV] === '1') return 'stock';
    throw new Error(
      `werift is not patched: this install lacks Postern's changes to werift (slower data channels, STUN to a public server, TURN allocations never released). ${REPAIR}`,
    );
  }
  const same = applied.length === WERIFT_PATCHES.length && WERIFT_PATCHES.every((name, i) => applied[i] === name);
  if (!same) {
    throw new Error(`werift carries another patch set than this Postern expects: [${applied.join(', ')}] instead of [${WERIFT_PATCHES.join(', ')}]. ${REPAIR}`);
  }
  return 'patched';
}

/** The patch set of the werift this process loaded (undefined: stock werift). */
export function loadedWeriftPatches(): readonly string[] | undefined {
  // A namespace import: stock werift has no such export, and that must not be a link error.
  const applied: readonly string[] | undefined = werift.posternPatches;
  return applied;
}

/** Checks the loaded werift (see checkWeriftPatches) with this process's environment. */
export function assertWeriftPatched(): WeriftBuild {
  return checkWeriftPatches(loadedWeriftPatches(), globalThis.process?.env ?? {});
}
