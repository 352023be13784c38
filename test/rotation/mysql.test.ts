/** Rotation end to end on MariaDB (./suite.ts says what is shown). */
import { describeRotation } from './suite.ts';
import { mysqlTarget } from './targets/mysql.ts';

describeRotation('MariaDB', mysqlTarget);
