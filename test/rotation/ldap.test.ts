/** Rotation end to end on OpenLDAP (./suite.ts says what is shown). */
import { describeRotation } from './suite.ts';
import { ldapTarget } from './targets/ldap.ts';

describeRotation('OpenLDAP', ldapTarget);
