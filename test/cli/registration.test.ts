/**
 * Who may create an account, through the real `postern` CLI against a real Router: after the
 * first account, by invitation (`postern invite`) or on a Router with open registration; and in
 * neither mode may `register` tell a caller whether an email already has an account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { CliUser, type CliResult } from './support.ts';

const UID = /^[\w-]{22}$/;
const CODE = /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/;

function registerArgs(email: string, invite?: string): string[] {
  return ['--json', 'register', '--email', email, '--password-stdin', ...(invite ? ['--invite', invite] : [])];
}

/** What the caller of a refused registration sees, with the email taken out. */
function refusal(result: CliResult, email: string) {
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  return { ...result.error(), message: result.error().message.replaceAll(email, 'EMAIL') };
}

describe('registration on an invitation-only Router (the default)', () => {
  let router: TestRouter;
  let admin: CliUser;
  let member: CliUser;

  beforeAll(async () => {
    router = await startTestRouter({ openRegistration: false });
    admin = new CliUser(router.url, 'inv-admin@example.com');
    member = new CliUser(router.url, 'inv-member@example.com');
  });
  afterAll(async () => {
    admin?.cleanup();
    member?.cleanup();
    await router?.stop();
  });

  it('lets the first account in without an invitation, as administrator', async () => {
    const created = await admin.ok(registerArgs(admin.email), { stdin: `${admin.password}\n` });
    expect(created.json()).toMatchObject({ email: admin.email, userUid: expect.stringMatching(UID) });
    await admin.login();
    expect((await admin.ok(['--json', 'whoami'])).json()).toMatchObject({ administrator: true });
  });

  it('refuses a registration without a valid invitation the same way whether or not the email has an account', async () => {
    // threat model (docs/threat-model.md): anonymous
    const stranger = new CliUser(router.url, 'stranger@example.com');
    try {
      const [fresh, taken, bogus] = await Promise.all([
        stranger.run(registerArgs('nobody-yet@example.com'), { stdin: `${stranger.password}\n` }),
        stranger.run(registerArgs(admin.email), { stdin: `${stranger.password}\n` }),
        stranger.run(registerArgs(admin.email, 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE'), { stdin: `${stranger.password}\n` }),
      ]);
      const a = refusal(fresh, 'nobody-yet@example.com');
      expect(a).toMatchObject({ code: 'not_allowed', message: expect.stringMatching(/needs a valid invitation.*postern invite add/) });
      expect(refusal(taken, admin.email)).toEqual(a);
      expect(refusal(bogus, admin.email)).toEqual(a);
      // The administrator's account is untouched.
      await admin.login();
    } finally {
      stranger.cleanup();
    }
  });

  it('registers an invited email once, with its own code only, before the code expires', async () => {
    const invited = await admin.ok(['--json', 'invite', 'add', member.email, '--expires-in', '2d']);
    const { code, invitationUid } = invited.json<{ code: string; invitationUid: string }>();
    expect(code).toMatch(CODE);
    const other = await admin.ok(['--json', 'invite', 'add', 'other@example.com']);
    const otherCode = other.json<{ code: string }>().code;

    // threat model (docs/threat-model.md): anonymous — someone else's code does not open this email
    const wrongEmail = await member.run(registerArgs(member.email, otherCode), { stdin: `${member.password}\n` });
    expect(refusal(wrongEmail, member.email).code).toBe('not_allowed');

    // Dashes and case do not matter when the code is typed.
    const ok = await member.ok(registerArgs(member.email, code.replaceAll('-', '').toLowerCase()), { stdin: `${member.password}\n` });
    expect(ok.json()).toMatchObject({ email: member.email, userUid: expect.stringMatching(UID) });
    await member.login();

    // threat model (docs/threat-model.md): anonymous — a used code is spent
    const again = await member.run(registerArgs(member.email, code), { stdin: `${member.password}\n` });
    expect(refusal(again, member.email).code).toBe('not_allowed');

    // threat model (docs/threat-model.md): anonymous — an expired code is refused
    await router.db
      .updateTable('invitations')
      .set({ expires_at: Date.now() - 1 })
      .where('email', '=', 'other@example.com')
      .execute();
    const expired = await member.run(registerArgs('other@example.com', otherCode), { stdin: `${member.password}\n` });
    expect(refusal(expired, 'other@example.com').code).toBe('not_allowed');

    const list = (await admin.ok(['--json', 'invite', 'list'])).json<{ invitations: { invitationUid: string; email: string; status: string }[] }>();
    expect(list.invitations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ invitationUid, email: member.email, status: 'used' }),
        expect.objectContaining({ email: 'other@example.com', status: 'expired' }),
      ]),
    );
    // Only hashes are stored.
    const stored = await router.db.selectFrom('invitations').select('code_hash').execute();
    expect(JSON.stringify(stored)).not.toContain(code.replaceAll('-', ''));
  });

  it('withdraws a pending invitation, after which its code is refused', async () => {
    const { code } = (await admin.ok(['--json', 'invite', 'add', 'withdrawn@example.com'])).json<{ code: string }>();
    expect((await admin.ok(['--json', 'invite', 'rm', 'withdrawn@example.com'])).json()).toMatchObject({ removed: 1 });
    const late = await member.run(registerArgs('withdrawn@example.com', code), { stdin: `${member.password}\n` });
    expect(refusal(late, 'withdrawn@example.com').code).toBe('not_allowed');
  });

  it('lets only an administrator invite', async () => {
    // threat model (docs/threat-model.md): folder owner (an account that is not an administrator)
    const [add, list] = await Promise.all([member.run(['--json', 'invite', 'add', 'friend@example.com']), member.run(['--json', 'invite', 'list'])]);
    expect(add.code).toBe(1);
    expect(add.error()).toMatchObject({ code: 'not_allowed', message: expect.stringMatching(/Only a Postern administrator can manage invitations/) });
    expect(list.error().code).toBe('not_allowed');
  });
});

describe('registration on a Router with open registration', () => {
  let router: TestRouter;
  let admin: CliUser;
  let victim: CliUser;
  let attacker: CliUser;

  beforeAll(async () => {
    router = await startTestRouter({ openRegistration: true });
    admin = new CliUser(router.url, 'open-admin@example.com');
    victim = new CliUser(router.url, 'victim@example.com');
    attacker = new CliUser(router.url, 'attacker@example.com', 'the attacker own long password');
    await admin.register();
    await admin.login();
    await victim.register();
  });
  afterAll(async () => {
    for (const u of [admin, victim, attacker]) u?.cleanup();
    await router?.stop();
  });

  it('answers a registration of an existing email exactly like a new one, and leaves the account alone', async () => {
    // threat model (docs/threat-model.md): anonymous
    const stdin = `${attacker.password}\n`;
    const [overExisting, overExistingAgain, fresh] = await Promise.all([
      attacker.ok(registerArgs(victim.email), { stdin }),
      attacker.ok(registerArgs(victim.email), { stdin }),
      attacker.ok(registerArgs('brand-new@example.com'), { stdin }),
    ]);
    const shape = (r: CliResult, email: string) => r.stdout.replaceAll(email, 'EMAIL').replace(/"userUid": "[\w-]{22}"/, '"userUid": "UID"');
    expect(shape(overExisting, victim.email)).toBe(shape(fresh, 'brand-new@example.com'));
    expect(overExisting.json().userUid).toMatch(UID);
    // Stable per email, as a real account's UID would be; and not the victim's.
    expect(overExistingAgain.json().userUid).toBe(overExisting.json().userUid);
    const real = await router.db.selectFrom('users').select('uid').where('email', '=', victim.email).executeTakeFirstOrThrow();
    expect(overExisting.json().userUid).not.toBe(real.uid);

    // The human output is the same too, and does not claim an account was created.
    const [humanExisting, humanFresh] = await Promise.all([
      attacker.ok(['register', '--email', victim.email, '--password-stdin'], { stdin }),
      attacker.ok(['register', '--email', 'brand-new-2@example.com', '--password-stdin'], { stdin }),
    ]);
    expect(humanExisting.stdout.replaceAll(victim.email, 'EMAIL')).toBe(humanFresh.stdout.replaceAll('brand-new-2@example.com', 'EMAIL'));
    expect(humanExisting.stdout).toMatch(/accepted by .*same answer when the email already has an account/s);

    // The victim still logs in with their own password; the attacker's does not open the account.
    await victim.login();
    const hijack = await attacker.run(['--json', 'login', '--email', victim.email, '--password-stdin'], { stdin });
    expect(hijack.error().code).toBe('unauthorized');
    // The legitimate new user logs in normally.
    await attacker.ok(['login', '--email', 'brand-new@example.com', '--password-stdin'], { stdin });

    // The administrator and the account holder see the attempt in their audit events.
    for (const who of [admin, victim]) {
      const events = (await who.ok(['--json', 'events', '--action', 'account.register'])).json<{
        events: { outcome: string; actor: string; detail: Record<string, unknown> | null }[];
      }>().events;
      expect(events).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ outcome: 'denied', actor: victim.email, detail: expect.objectContaining({ reason: 'account_exists' }) }),
        ]),
      );
    }
  });
});
