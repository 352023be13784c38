/** Rotation end to end on Linux over SSH (./suite.ts says what is shown). */
import { describeRotation } from './suite.ts';
import { sshTarget } from './targets/ssh.ts';

describeRotation('Linux over SSH', sshTarget);
