import { describe, expect, it } from 'vitest';
import { PosternError } from '../errors.ts';
import { newUid } from '../ids.ts';
import { ACTION_CONTRACTS, ACTION_NAMES, isActionName, parseActionParams, parseActionResult, parseCallerParams } from './actions.ts';
import { actionName } from './vault-api.ts';
import { newSignallingSessionId } from './webrtc-signalling.ts';

function refusal(fn: () => unknown): PosternError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PosternError);
    return err as PosternError;
  }
  throw new Error('expected a refusal');
}

describe('the action contract', () => {
  it('names its actions as the wire spells them, and knows no other name', () => {
    for (const name of ACTION_NAMES) expect(actionName().safeParse(name).success, name).toBe(true);
    expect(ACTION_NAMES.every(isActionName)).toBe(true);
    for (const name of ['frobnicate', 'constructor', '__proto__', 'toString', 'Rotate', '']) expect(isActionName(name), name).toBe(false);
  });

  it('passes every caller param on to the gateway, and lets a resource go only with a record', () => {
    for (const name of ACTION_NAMES) {
      const { caller, params, target, resource } = ACTION_CONTRACTS[name];
      for (const key of Object.keys(caller.shape)) expect(Object.keys(params.shape), `${name}.${key}`).toContain(key);
      if (resource) expect(target, name).toBe('record');
    }
  });

  describe('caller params (checked by the Router)', () => {
    it('takes what the action allows, nothing when it takes nothing', () => {
      expect(parseCallerParams('rotate', { resume: true })).toEqual({ resume: true });
      expect(parseCallerParams('rotate', undefined)).toEqual({});
      expect(parseCallerParams('gateway-info', {})).toEqual({});
      const sessionId = newSignallingSessionId();
      expect(parseCallerParams('webrtc-session', { sessionId, offer: 'sealed' })).toEqual({ sessionId, offer: 'sealed' });
    });

    it('refuses a param the Router sets itself by name, and says what the action takes', () => {
      const err = refusal(() => parseCallerParams('rotate', { resourceUid: newUid() }));
      expect(err.code).toBe('bad_request');
      expect(err.message).toMatch(/^"rotate" does not take the parameter\(s\) resourceUid; it takes resume\. The Router sets the record/);
      expect(err.details).toEqual({ action: 'rotate' });
      expect(refusal(() => parseCallerParams('gateway-info', { recordUid: newUid() })).message).toMatch(
        /does not take the parameter\(s\) recordUid; it takes none/,
      );
    });

    it('refuses a param of the wrong kind, or a missing one, at its name', () => {
      expect(refusal(() => parseCallerParams('rotate', { resume: 'yes' })).message).toMatch(/^"rotate" params are invalid at resume: /);
      expect(refusal(() => parseCallerParams('webrtc-session', { sessionId: newSignallingSessionId() })).message).toMatch(
        /^"webrtc-session" params are invalid at offer: /,
      );
      expect(refusal(() => parseCallerParams('webrtc-session', { sessionId: 'nope', offer: 'x' })).message).toMatch(
        /at sessionId: expected a signalling session id/,
      );
    });
  });

  describe('params (checked by the gateway)', () => {
    const rotate = () => ({ jobUid: newUid(), recordUid: newUid(), configurationUid: newUid(), resourceUid: null, adminCredentialUid: null });

    it('takes what the Router sends, and drops what a newer Router adds', () => {
      const p = { ...rotate(), requestedBy: newUid(), resume: true };
      expect(parseActionParams('rotate', { ...p, addedLater: 1 })).toEqual(p);
      const w = parseActionParams('webrtc-session', { recordUid: newUid(), configurationUid: newUid(), sessionId: newSignallingSessionId(), offer: 'sealed' });
      expect(w.iceServers).toEqual([]);
    });

    it('refuses a bad or missing field with bad_request naming it', () => {
      const bad = refusal(() => parseActionParams('rotate', { ...rotate(), jobUid: 'nope' }));
      expect(bad.code).toBe('bad_request');
      expect(bad.message).toMatch(/^"rotate" params are invalid at jobUid: expected a 22-character UID\.$/);
      const { adminCredentialUid: _, ...missing } = rotate();
      expect(refusal(() => parseActionParams('rotate', missing)).message).toMatch(/at adminCredentialUid/);
      expect(refusal(() => parseActionParams('job-info', {})).message).toMatch(/^"job-info" params are invalid at jobUid/);
      expect(refusal(() => parseActionParams('gateway-info', 'not an object')).message).toMatch(/^"gateway-info" params are invalid at \(params\)/);
      expect(refusal(() => parseActionParams('webrtc-session', { recordUid: newUid() })).code).toBe('bad_request');
    });
  });

  describe('results (checked by a vault that reads them)', () => {
    it('gives back what the gateway sent, extra fields and all', () => {
      expect(parseActionResult('webrtc-session', { answer: 'sealed', more: 1 })).toEqual({ answer: 'sealed', more: 1 });
      const jobUid = newUid();
      expect(parseActionResult('rotate', { jobUid })).toEqual({ jobUid });
    });

    it('refuses a result missing what the contract names', () => {
      const err = refusal(() => parseActionResult('webrtc-session', {}));
      expect(err.code).toBe('bad_request');
      expect(err.message).toMatch(/^The gateway's "webrtc-session" result is malformed at answer: /);
      expect(refusal(() => parseActionResult('job-cancel', { jobUid: newUid() })).message).toMatch(/at status/);
      expect(refusal(() => parseActionResult('rotate', undefined)).message).toMatch(/at \(data\)/);
    });
  });
});
