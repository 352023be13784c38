/**
 * A job's log as the readers of its record see it. The gateway seals log lines and the final
 * message of a job on a record with a key derived from the record key (core/protocol/job-log.ts);
 * this opens them with the key the vault client holds, or says plainly what it cannot open.
 * Text without the sealed prefix is the Router's own (or the gateway's, before it held the key)
 * and is shown as it is.
 */
import type { JobEntry } from '../protocol/vault-api.ts';
import { jobLogKey, openJobLine, openJobMessage, sealedLineNumber, sealedMessageCode, isSealedJobText } from '../protocol/job-log.ts';

export interface JobLogLine {
  seq: number;
  at: number;
  line: string;
}

export interface ReadJobLogLine extends JobLogLine {
  /** The gateway sealed it (whether or not it could be opened here). */
  sealed: boolean;
}

/** What a JobLogReader needs of the vault client. */
export interface RecordKeySource {
  recordKeyOf(recordUid: string): Promise<Uint8Array | null>;
}

/** Opens one job's sealed lines and message; keeps the order check across polls, so use one per job. */
export class JobLogReader {
  private key: Uint8Array | null | undefined;
  private lastLine = 0;

  constructor(
    private readonly vault: RecordKeySource,
    private readonly jobUid: string,
    private readonly recordUid: string | null,
  ) {}

  /** The job with its message opened. */
  async job(job: JobEntry): Promise<JobEntry> {
    if (job.message === null || !isSealedJobText(job.message)) return job;
    const key = await this.keyFor();
    if (!key) {
      const code = sealedMessageCode(job.message);
      return { ...job, message: `${code ? `${code}: ` : ''}${this.unreadable()}` };
    }
    try {
      return { ...job, message: await openJobMessage(key, this.jobUid, job.message) };
    } catch {
      return { ...job, message: '(sealed message does not open: it was altered, or its code was changed)' };
    }
  }

  /** The lines opened, in the order given; a sealed line that does not open, or comes out of order, is replaced by a note saying so. */
  async lines(lines: JobLogLine[]): Promise<ReadJobLogLine[]> {
    const out: ReadJobLogLine[] = [];
    for (const l of lines) {
      const n = sealedLineNumber(l.line);
      if (n === null) {
        out.push({ ...l, sealed: false });
        continue;
      }
      const key = await this.keyFor();
      out.push({ ...l, sealed: true, line: key ? await this.open(key, l.line, n) : this.unreadable() });
    }
    return out;
  }

  private async open(key: Uint8Array, text: string, n: number): Promise<string> {
    try {
      const { line } = await openJobLine(key, this.jobUid, text);
      if (n <= this.lastLine) return `(sealed line ${n} came after line ${this.lastLine}: the Router reordered or repeated it; not shown)`;
      this.lastLine = n;
      return line;
    } catch {
      return `(sealed line ${n} does not open: it was altered, or moved from another job)`;
    }
  }

  private unreadable(): string {
    return this.recordUid ? `(sealed: you cannot read record ${this.recordUid})` : '(sealed)';
  }

  private async keyFor(): Promise<Uint8Array | null> {
    if (this.key === undefined) {
      const recordKey = this.recordUid ? await this.vault.recordKeyOf(this.recordUid) : null;
      this.key = recordKey ? jobLogKey(recordKey, this.jobUid) : null;
    }
    return this.key;
  }
}
