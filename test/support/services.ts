/**
 * The one rule for tests that need a real server (PostgreSQL, MariaDB, sshd, slapd, NATS,
 * Chromium, coturn's turnutils_uclient): scripts/test.sh finds or starts it and hands its address
 * in an environment variable. Without one, a suite skips, except under CI, where a skip would let
 * a green run claim tests that never ran: there the suite fails to load, naming what is missing.
 */

/** Whether this is a CI run, as scripts/test.sh decides it (CI set, and not "false" or "0"). */
export function underCi(): boolean {
  const ci = process.env['CI'];
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * The value of `envVar` (or `found`, a copy the caller found on this machine by itself); when
 * neither is there, null so the caller skips, or under CI an error that fails the suite.
 */
export function requireService(server: string, envVar: string, found?: string | null): string | null {
  const value = process.env[envVar] || found || null;
  if (value !== null || !underCi()) return value;
  throw new Error(
    `${server} is required under CI but ${envVar} is not set, so these tests would be skipped. ` +
      'Run the suite through `npm test` (scripts/test.sh finds or starts every server and fails if it cannot), or unset CI to let them skip.',
  );
}
