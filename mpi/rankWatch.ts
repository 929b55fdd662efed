/**
 * The watchdog of an MPI job's ranks, shared by mpirun jobs (mpi/launcher.ts) and Slurm jobs (mpi/slurmJob.ts):
 * every rank must print READY within the start-up deadline and then keep printing until it has finished its
 * share, or the job is stalled and its launcher ends it.
 */
import { PROGRESS_PREFIX, READY_PREFIX, RESULT_PREFIX, type RankReady, parsePrefixedJson } from './protocol.ts';

/** Ranks did not start, or stopped reporting progress: the job was ended. Retryable (a host may come back). */
export class MpiStallError extends Error {
  constructor(
    message: string,
    /** Hosts of the ranks that did not answer, as far as known. */
    readonly hosts: string[],
  ) {
    super(message);
    this.name = 'MpiStallError';
  }
}

/**
 * Start-up and progress deadlines of a job's ranks. A rank that has not printed READY within `readyMs` of the
 * launch, or that has not finished its share and printed nothing for `stallMs`, stalls the job; so does a job
 * still running `stallMs` after every rank finished (a collective waiting for a lost host). The error names the
 * ranks and the hosts they reported (or "host unknown": a rank that never started could not say).
 */
export class RankWatch {
  private readonly launched = Date.now();
  private readonly lastHeard = new Map<number, number>();
  private readonly hosts = new Map<number, string>();
  private readonly done = new Set<number>();
  private allDoneAt: number | null = null;
  readonly checkEveryMs: number;

  constructor(
    private readonly np: number,
    private readonly readyMs: number,
    private readonly stallMs: number,
    /** What to check when ranks do not start (how this launcher reaches the hosts). */
    private readonly startHint = 'check that every host of the hostfile is reachable by ssh without a password and has subtomo at the same path',
  ) {
    this.checkEveryMs = Math.max(50, Math.min(5_000, Math.floor(Math.min(readyMs, stallMs) / 4)));
  }

  /**
   * Takes a stdout line of `rank` (mpi/protocol.ts): READY and PROGRESS lines move its deadlines; returns the
   * payload of a PROGRESS or RESULT line.
   */
  line(rank: number, line: string): { progress?: unknown; result?: unknown } {
    this.heard(rank);
    if (line.startsWith(READY_PREFIX)) {
      const ready = parsePrefixedJson(READY_PREFIX, line) as RankReady | undefined;
      if (ready) this.ready(rank, ready.host);
    } else if (line.startsWith(PROGRESS_PREFIX)) {
      const progress = parsePrefixedJson(PROGRESS_PREFIX, line);
      if (progress !== undefined) {
        const { done, total } = progress as { done?: unknown; total?: unknown };
        if (typeof done === 'number' && typeof total === 'number' && done >= total) this.finished(rank);
        return { progress };
      }
    } else if (line.startsWith(RESULT_PREFIX)) {
      const result = parsePrefixedJson(RESULT_PREFIX, line);
      if (result !== undefined) return { result };
    }
    return {};
  }

  /** Every rank has finished its share: the job is about to end. */
  get allFinished(): boolean {
    return this.allDoneAt !== null;
  }

  heard(rank: number): void {
    this.lastHeard.set(rank, Date.now());
  }

  ready(rank: number, host: string): void {
    this.hosts.set(rank, host);
  }

  finished(rank: number): void {
    this.done.add(rank);
    if (this.done.size === this.np && this.allDoneAt === null) this.allDoneAt = Date.now();
  }

  private describe(ranks: number[]): { text: string; hosts: string[] } {
    const hosts = [...new Set(ranks.map((r) => this.hosts.get(r) ?? 'host unknown'))];
    return { text: ranks.map((r) => `rank ${r} (${this.hosts.get(r) ?? 'host unknown'})`).join(', '), hosts };
  }

  check(program: string): MpiStallError | null {
    const now = Date.now();
    const ranks = Array.from({ length: this.np }, (_, r) => r);
    const notReady = ranks.filter((r) => !this.hosts.has(r));
    if (notReady.length > 0 && now - this.launched > this.readyMs) {
      const { text, hosts } = this.describe(notReady);
      return new MpiStallError(
        `MPI job ${program} (np ${this.np}): ${text} did not start within ${this.readyMs / 1000} s; ${this.startHint}`,
        hosts,
      );
    }
    if (notReady.length > 0) return null;
    const silent = ranks.filter((r) => !this.done.has(r) && now - (this.lastHeard.get(r) ?? this.launched) > this.stallMs);
    if (silent.length > 0) {
      const { text, hosts } = this.describe(silent);
      return new MpiStallError(`MPI job ${program} (np ${this.np}): no progress from ${text} for ${this.stallMs / 1000} s; the job was ended`, hosts);
    }
    if (this.allDoneAt !== null && now - this.allDoneAt > this.stallMs) {
      const { text, hosts } = this.describe(ranks);
      return new MpiStallError(
        `MPI job ${program} (np ${this.np}): every rank finished its share but the job did not end within ${this.stallMs / 1000} s ` +
          `(collecting the results hangs; ranks ${text}); the job was ended`,
        hosts,
      );
    }
    return null;
  }
}

