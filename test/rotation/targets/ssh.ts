/**
 * A Linux machine over SSH (the test sshd of scripts/services/sshd.sh on this machine) as a
 * rotation target: throwaway local users made with useradd/chpasswd, and an admin that rotates
 * them with passwordless sudo, as a real fleet's automation account would.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Client, utils } from 'ssh2';
import { newRecordData } from '../../../core/records/index.ts';
import type { TargetAdapter } from '../suite.ts';
import { requireService } from '../../support/services.ts';

const address = requireService('sshd', 'POSTERN_TEST_SSH');
const [host, portText] = (address ?? '127.0.0.1:2222').split(':');
const run = randomBytes(3).toString('hex');
const created: string[] = [];
const admin = { login: `pa${run}adm`, password: 'Admin-Pw-For-Rotation-1' };
const sudoers = `/etc/sudoers.d/postern-rotation-${admin.login}`;

function sh(command: string, args: string[], input?: string): void {
  execFileSync(command, args, { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

function addUser(login: string, password: string): void {
  sh('useradd', ['-m', '-s', '/bin/bash', login]);
  created.push(login);
  sh('chpasswd', [], `${login}:${password}\n`);
}

function unavailable(): string | null {
  if (!address) return 'POSTERN_TEST_SSH is not set (run through `npm test`, which starts a test sshd)';
  if (process.getuid?.() !== 0) return 'creating Linux users for the SSH target needs root';
  return null;
}

export const sshTarget: TargetAdapter = {
  unavailable: unavailable(),
  async setup() {
    addUser(admin.login, admin.password);
    writeFileSync(sudoers, `${admin.login} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  },
  async cleanup() {
    rmSync(sudoers, { force: true });
    for (const login of created) {
      try {
        sh('userdel', ['-r', '-f', login]);
      } catch {
        // already gone
      }
    }
  },
  resource: (port = Number(portText)) => newRecordData('pamMachine', `linux ${run}`, { hostname: host!, port, operatingSystem: 'linux' }),
  admin: () => admin,
  async newUser(password) {
    const login = `pa${run}u${created.length}`;
    addUser(login, password);
    return { login };
  },
  keys: {
    async newKeyUser() {
      const login = `pa${run}k${created.length}`;
      sh('useradd', ['-m', '-s', '/bin/bash', login]);
      created.push(login);
      const dir = mkdtempSync(join(tmpdir(), 'postern-key-'));
      try {
        sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${login}@postern-test`, '-f', join(dir, 'id')]);
        sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'unrelated@elsewhere', '-f', join(dir, 'other')]);
        const privateKey = readFileSync(join(dir, 'id'), 'utf8');
        const unrelatedLine = `from="10.0.0.0/8" ${readFileSync(join(dir, 'other.pub'), 'utf8').trim()}`;
        const home = `/home/${login}`;
        const uid = Number(execFileSync('id', ['-u', login]).toString().trim());
        const gid = Number(execFileSync('id', ['-g', login]).toString().trim());
        mkdirSync(`${home}/.ssh`, { mode: 0o700, recursive: true });
        writeFileSync(`${home}/.ssh/authorized_keys`, `# keys of ${login}\n${readFileSync(join(dir, 'id.pub'), 'utf8').trim()}\n${unrelatedLine}\n`, {
          mode: 0o600,
        });
        chownSync(`${home}/.ssh`, uid, gid);
        chownSync(`${home}/.ssh/authorized_keys`, uid, gid);
        return { login, privateKey, unrelatedLine };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    canLoginWithKey(login, privateKey) {
      return new Promise((resolve, reject) => {
        const c = new Client();
        c.on('ready', () => {
          c.end();
          resolve(true);
        });
        c.on('error', (err: Error & { level?: string }) => (err.level === 'client-authentication' ? resolve(false) : reject(err)));
        c.connect({ host: host!, port: Number(portText), username: login, privateKey, readyTimeout: 15_000 });
      });
    },
    authorizedKeys: (login) => readFileSync(`/home/${login}/.ssh/authorized_keys`, 'utf8'),
    keyType(privateKey) {
      const parsed = utils.parseKey(privateKey);
      if (parsed instanceof Error) throw parsed;
      return (Array.isArray(parsed) ? parsed[0]! : parsed).type;
    },
  },
  canLogin(user, password) {
    return new Promise((resolve, reject) => {
      const c = new Client();
      c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => password)));
      c.on('ready', () => {
        c.end();
        resolve(true);
      });
      c.on('error', (err: Error & { level?: string }) => (err.level === 'client-authentication' ? resolve(false) : reject(err)));
      c.connect({ host: host!, port: Number(portText), username: user.login, password, tryKeyboard: true, readyTimeout: 15_000 });
    });
  },
};
