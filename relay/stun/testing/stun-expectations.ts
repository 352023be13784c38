/** Assertions shared by the STUN codec's tests (not part of the relay). */
import { expect } from 'vitest';
import { fromHex } from '../../../core/crypto/index.ts';
import { StunError, type StunErrorReason } from '../message.ts';

/** Hex as the RFCs print it, spaces and line breaks allowed. */
export const hex = (s: string): Uint8Array => fromHex(s.replace(/\s+/g, ''));

/** The transaction id of the RFC 5769 test vectors. */
export const RFC5769_TID = hex('b7e7a701 bc34d686 fa87dfae');

/** Runs `fn`, which must throw a StunError with this reason; returns it. */
export function expectStunError(fn: () => unknown, reason: StunErrorReason): StunError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StunError);
    expect((e as StunError).reason).toBe(reason);
    return e as StunError;
  }
  throw new Error(`expected StunError ${reason}`);
}
