import { describe, expect, it } from 'vitest';
import { PosternError } from '../../core/errors.ts';
import { toPosternError } from '../http/errors.ts';
import { databaseFault } from './database-faults.ts';

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('which storage errors mean the database is away', () => {
  it('recognises PostgreSQL going down, refusing, or out of connections, and SQLite locked, read-only or failing', () => {
    expect(databaseFault(coded('57P01', 'terminating connection due to administrator command'))).toBe('shutting_down');
    expect(databaseFault(coded('57P03', 'the database system is starting up'))).toBe('shutting_down');
    expect(databaseFault(coded('08006'))).toBe('unreachable');
    expect(databaseFault(coded('53300', 'too many connections'))).toBe('overloaded');
    expect(databaseFault(coded('ECONNREFUSED'))).toBe('unreachable');
    expect(databaseFault(coded('ECONNRESET'))).toBe('unreachable');
    expect(databaseFault(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]))).toBe('unreachable');
    expect(databaseFault(new Error('Connection terminated unexpectedly'))).toBe('unreachable');
    expect(databaseFault(new Error('timeout exceeded when trying to connect'))).toBe('unreachable');
    expect(databaseFault(coded('SQLITE_BUSY', 'database is locked'))).toBe('locked');
    expect(databaseFault(coded('SQLITE_READONLY_DBMOVED'))).toBe('read_only');
    expect(databaseFault(coded('SQLITE_IOERR_FSYNC'))).toBe('disk');
    expect(databaseFault(coded('SQLITE_FULL'))).toBe('disk');
  });

  it('leaves a wrong query, a constraint, a bug or a non-error alone (they stay internal)', () => {
    expect(databaseFault(coded('23505', 'duplicate key value violates unique constraint'))).toBeNull();
    expect(databaseFault(coded('42P01', 'relation "x" does not exist'))).toBeNull();
    expect(databaseFault(coded('SQLITE_CONSTRAINT_PRIMARYKEY'))).toBeNull();
    expect(databaseFault(new TypeError("Cannot read properties of undefined (reading 'uid')"))).toBeNull();
    expect(databaseFault('ECONNREFUSED')).toBeNull();
    expect(databaseFault(null)).toBeNull();
    expect(toPosternError(coded('23505')).code).toBe('internal');
  });

  it('is answered 503 unavailable with a Retry-After, naming the dependency and never the driver’s text', () => {
    const error = toPosternError(coded('57P01', 'terminating connection due to administrator command; secret-canary'));
    expect(error).toBeInstanceOf(PosternError);
    expect(error.code).toBe('unavailable');
    expect(error.httpStatus).toBe(503);
    expect(error.details).toMatchObject({ retryAfterSeconds: 5, dependency: 'database', fault: 'shutting_down' });
    expect(JSON.stringify(error.toJSON())).not.toContain('secret-canary');
  });
});
