/**
 * The parsers behind `--complexity` and `--policy`, and the job progress helpers, without a
 * server.
 */
import { describe, expect, it } from 'vitest';
import { applyFieldAssignments, newRecordData } from '../../../core/records/index.ts';

import { POLICIES } from '../../../core/policies.ts';
import { policiesFrom } from './role.ts';
import { complexityAssignments, complexityText } from './rotation.ts';
import { actionFailure } from './job.ts';
import { UsageError } from '../../../core/errors.ts';

describe('--complexity', () => {
  const user = newRecordData('pamUser', 'svc', { login: 'svc', passwordComplexity: { length: 20, upper: 4 } });

  it('replaces the rules with the ones given, keeping commas inside specialChars', () => {
    const assignments = complexityAssignments('length=32, Upper=2,lower=2,digits=2,special=2,specialChars=!,#=$');
    expect(assignments).toEqual([
      'passwordComplexity=',
      'passwordComplexity.length=32',
      'passwordComplexity.upper=2',
      'passwordComplexity.lower=2',
      'passwordComplexity.digits=2',
      'passwordComplexity.special=2',
      'passwordComplexity.specialChars=!,#=$',
    ]);
    const changed = applyFieldAssignments(user, assignments);
    expect(changed.fields['passwordComplexity']).toEqual({ length: 32, upper: 2, lower: 2, digits: 2, special: 2, specialChars: '!,#=$' });
    expect(complexityText(changed)).toBe('length=32,upper=2,lower=2,digits=2,special=2,specialChars=!,#=$');
    // Only what is given: the previous upper=4 is gone.
    expect(applyFieldAssignments(user, complexityAssignments('length=40')).fields['passwordComplexity']).toEqual({ length: 40 });
  });

  it('refuses unknown names, repeats and non-numbers as usage errors', () => {
    expect(() => complexityAssignments('')).toThrow(UsageError);
    expect(() => complexityAssignments('length=32,colour=blue')).toThrow(/"colour=blue" is not one of length=…/);
    expect(() => complexityAssignments('length')).toThrow(/"length" is not one of/);
    expect(() => complexityAssignments('length=32,length=40')).toThrow(/length is given twice/);
    expect(() => complexityAssignments('length=thirty')).toThrow(/length must be a whole number, not "thirty"/);
    expect(complexityText(newRecordData('pamUser', 'x', { login: 'x' }))).toBe('');
  });
});

describe('--policy', () => {
  it('accepts repeats and commas, "all", and names the known policies for a typo', () => {
    expect(policiesFrom(['rotate', 'configure_rotation,rotate'])).toEqual(['rotate', 'configure_rotation']);
    expect(policiesFrom(['all'])).toHaveLength(POLICIES.length);
    expect(() => policiesFrom([])).toThrow(/at least one --policy/);
    expect(() => policiesFrom(['rotate', 'rotat', 'gateways'])).toThrow(/^Unknown policies "rotat", "gateways"\. Known: manage_applications, /);
  });
});

describe('action outcomes', () => {
  it('turns a refusal into an error with the code and advice', () => {
    const err = actionFailure(
      { code: 'controller_down', message: 'Gateway X is not connected to the Router.', gatewayUid: 'g'.repeat(22), jobUid: 'j'.repeat(22) },
      'Rotation of R could not start',
    );
    expect(err.code).toBe('controller_down');
    expect(err.message).toBe(
      'Rotation of R could not start: Gateway X is not connected to the Router. The gateway is not connected to the Router. Check it with `postern gateway list`, and on its host `postern-gateway start`.',
    );
    expect(err.details).toEqual({ gatewayUid: 'g'.repeat(22), jobUid: 'j'.repeat(22) });
    expect(actionFailure({ code: 'bad_request', message: 'no such thing' }, 'X').message).toBe('X: no such thing.');
  });
});
