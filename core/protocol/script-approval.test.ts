import { beforeAll, describe, expect, it } from 'vitest';
import { deriveRouterSubkeys, generateP256KeyPair, randomBytes } from '../crypto/index.ts';
import { fileContentDigest, signScriptApproval, verifyScriptApproval, type ScriptApproval } from './script-approval.ts';

describe('script approvals', () => {
  const router = deriveRouterSubkeys(randomBytes(32)).signing;
  const stored = { fileKey: 'k1', metadata: 'm1', content: 'c1' };
  const file = { fileUid: 'F'.repeat(22), recordUid: 'R'.repeat(22), contentDigest: fileContentDigest(stored) };
  let approval: ScriptApproval;
  beforeAll(async () => {
    approval = await signScriptApproval(router.privateKey, file, { approvedBy: 'A'.repeat(22), approvedAt: 1_700_000_000_000 });
  });

  it('verifies for exactly the file, record and content it was made for', async () => {
    expect(await verifyScriptApproval(router.publicKey, file, approval)).toBe(true);
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('refuses a swapped content, another file, another record, another approver or time', async () => {
    expect(await verifyScriptApproval(router.publicKey, { ...file, contentDigest: fileContentDigest({ ...stored, content: 'c2' }) }, approval)).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, { ...file, fileUid: 'G'.repeat(22) }, approval)).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, { ...file, recordUid: 'S'.repeat(22) }, approval)).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, file, { ...approval, approvedBy: 'B'.repeat(22) })).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, file, { ...approval, approvedAt: approval.approvedAt + 1 })).toBe(false);
  });

  // threat model (docs/threat-model.md): database-only attacker
  it('refuses a signature by any other key, and no approval at all', async () => {
    const forged = await signScriptApproval(generateP256KeyPair().privateKey, file, { approvedBy: 'A'.repeat(22), approvedAt: 1 });
    expect(await verifyScriptApproval(router.publicKey, file, forged)).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, file, null)).toBe(false);
    expect(await verifyScriptApproval(router.publicKey, file, { ...approval, signature: '!!not base64' })).toBe(false);
  });
});
