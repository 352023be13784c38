/**
 * coturn's test client, turnutils_uclient (Debian package coturn), for the relay's own tests
 * (not part of the relay): an independent TURN implementation to talk to. The bench
 * (test/bench/relay) parses more of its output; the tests need only the loss and the totals.
 */
import { execFile, spawnSync } from 'node:child_process';

/** The path of turnutils_uclient, or '' when it is not installed. */
export const UCLIENT = spawnSync('sh', ['-c', 'command -v turnutils_uclient']).stdout?.toString().trim() ?? '';

export interface UclientRun {
  /** stdout then stderr, for failure messages. */
  output: string;
  /** "Total lost packets N"; undefined when the output has no such line. */
  lost: number | undefined;
  /** start_mclient's tot_send_msgs and tot_recv_msgs; undefined when the output has no such line. */
  sent: number | undefined;
  received: number | undefined;
}

/** Runs turnutils_uclient with `args` (rejecting, with its output, if it fails) and parses its summary. */
export async function runUclient(args: readonly string[], timeoutMs = 60_000): Promise<UclientRun> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(UCLIENT, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stdout}${stderr}`)) : resolve(`${stdout}${stderr}`),
    );
  });
  const lost = /Total lost packets (\d+)/.exec(output);
  const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(output);
  return {
    output,
    lost: lost ? Number(lost[1]) : undefined,
    sent: totals ? Number(totals[1]) : undefined,
    received: totals ? Number(totals[2]) : undefined,
  };
}
