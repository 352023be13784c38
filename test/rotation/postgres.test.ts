/** Rotation end to end on PostgreSQL (./suite.ts says what is shown). */
import { describeRotation } from './suite.ts';
import { postgresTarget } from './targets/postgres.ts';

describeRotation('PostgreSQL', postgresTarget);
