/** TLS material for the database TLS tests (docs/decisions/0006-target-trust.md). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The CA that signed the test PostgreSQL's certificate (made by scripts/services/postgres.sh). */
export const TEST_PG_CA_FILE = join(process.env['POSTERN_PG_TLS_DIR'] ?? '/var/lib/postern-test/postgres-tls', 'ca.crt');

/** A fresh self-signed CA that signed nothing the server holds: an impostor's chain, as far as the gateway can tell. */
export function otherCa(): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-other-ca-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Not the test CA', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')],
      { stdio: 'ignore' },
    );
    return readFileSync(join(dir, 'c'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
