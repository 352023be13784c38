// Preloaded with NODE_OPTIONS="--import <this file>" by run.ts --cpu-prof (NODE_OPTIONS may not
// carry --cpu-prof itself): profiles the whole process with the inspector and writes
// <POSTERN_BENCH_PROFILE_DIR>/<argv hint>-<pid>.cpuprofile when the process exits. The in-thread
// inspector session answers synchronously, so this works from the 'exit' event.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.POSTERN_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  const hint = (process.argv[1] ?? '').includes('gateway') ? 'gateway' : 'cli';
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${hint}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
