/**
 * MPI install check and test fixture (a rank program: run it under mpirun, e.g. through runMpiJob).
 *
 * Every rank contributes known data; Allreduce/Reduce/Bcast/Scatterv/Gatherv and the JSON work helpers are
 * verified against values computed independently on each rank. Rank 0 prints `RESULT <json>` and exits 1 if
 * any check failed on any rank.
 *
 * Arguments: `fail-rank=K` — rank K prints a message to stderr and exits with code 3;
 * `sleep` — all ranks sleep for an hour (to test cancellation);
 * `progress-bytes=N` — every rank also prints one PROGRESS line carrying an N-character text and its SHA-256
 * (checks that long lines survive mpirun's output forwarding).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { Mpi, withMpi } from './binding.ts';
import { blockPartition } from './partition.ts';
import { printProgress, printResult } from './protocol.ts';

const FAIL_EXIT_CODE = 3;

interface Options {
  failRank: number | null;
  sleep: boolean;
  progressBytes: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { failRank: null, sleep: false, progressBytes: 0 };
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2);
    if (key === 'sleep' && value === undefined) options.sleep = true;
    else if (key === 'fail-rank' && /^\d+$/.test(value ?? '')) options.failRank = Number(value);
    else if (key === 'progress-bytes' && /^\d+$/.test(value ?? '')) options.progressBytes = Number(value);
    else throw new Error(`rankSelfTest: unknown argument '${arg}' (expected fail-rank=K, sleep, progress-bytes=N)`);
  }
  return options;
}

/** Text of n characters including multi-byte UTF-8, so a reader can check that long lines survive mpirun. */
function progressPayload(rank: number, n: number): string {
  const alphabet = `rank${rank}-abcdefghijklmnopqrstuvwxyz-Å-µ-✓-`;
  let s = '';
  while (s.length < n) s += alphabet;
  return s.slice(0, n);
}

type Check = [name: string, run: () => string | null];

function checks(mpi: Mpi): Check[] {
  const { rank, size } = mpi;
  const last = size - 1;
  const n = 1000;
  return [
    ['allreduceSum Float32Array', () => {
      // Quarter-integers below 2^11 are exact in float32, so the sum is exact in any order.
      const send = Float32Array.from({ length: n }, (_, i) => rank + 0.25 * i);
      const got = mpi.allreduceSum(send);
      return firstMismatch(got, (i) => (size * (size - 1)) / 2 + size * 0.25 * i);
    }],
    ['allreduceSum Float64Array', () => {
      const send = Float64Array.from({ length: n }, (_, i) => rank * 1e6 + i + 0.5);
      const got = mpi.allreduceSum(send);
      return firstMismatch(got, (i) => 1e6 * (size * (size - 1)) / 2 + size * (i + 0.5));
    }],
    ['allreduceSum on a subarray view', () => {
      const backing = new Float32Array(n + 7).fill(-99);
      const send = backing.subarray(7);
      send.forEach((_, i) => (send[i] = rank + i));
      const recvBacking = new Float32Array(n + 3).fill(-99);
      const got = mpi.allreduceSum(send, recvBacking.subarray(3));
      if (recvBacking[0] !== -99 || recvBacking[2] !== -99) return 'wrote outside the receive view';
      return firstMismatch(got, (i) => (size * (size - 1)) / 2 + size * i);
    }],
    [`reduceSum Float64Array to rank ${last}`, () => {
      const got = mpi.reduceSum(Float64Array.from({ length: n }, (_, i) => (rank + 1) * (i + 1)), last);
      if (rank !== last) return got === null ? null : 'non-root rank received a result';
      return firstMismatch(got!, (i) => ((size * (size + 1)) / 2) * (i + 1));
    }],
    ['reduceSum Float32Array to rank 0', () => {
      const got = mpi.reduceSum(new Float32Array(n).fill(rank + 1), 0);
      if (rank !== 0) return got === null ? null : 'non-root rank received a result';
      return firstMismatch(got!, () => (size * (size + 1)) / 2);
    }],
    ['bcast Int32Array from rank 0', () => {
      const expected = [7, -3, 2 ** 30, -(2 ** 31)];
      const buf = rank === 0 ? Int32Array.from(expected) : new Int32Array(expected.length);
      return firstMismatch(mpi.bcast(buf, 0), (i) => expected[i]!);
    }],
    [`bcast Float32Array/Float64Array/bytes from rank ${last}`, () => {
      const f32 = rank === last ? Float32Array.from({ length: n }, (_, i) => i / 8) : new Float32Array(n);
      const f64 = rank === last ? Float64Array.from({ length: n }, (_, i) => Math.PI * i) : new Float64Array(n);
      const bytes = rank === last ? Uint8Array.from({ length: 300 }, (_, i) => i & 255) : new Uint8Array(300);
      return firstMismatch(mpi.bcast(f32, last), (i) => i / 8) ??
        firstMismatch(mpi.bcast(f64, last), (i) => Math.PI * i) ??
        firstMismatch(mpi.bcast(bytes, last), (i) => i & 255);
    }],
    ['gatherv Float32Array', () => {
      const counts = Array.from({ length: size }, (_, r) => r + 1);
      const total = counts.reduce((a, b) => a + b, 0);
      const send = Float32Array.from({ length: rank + 1 }, (_, j) => rank * 100 + j);
      const got = mpi.gatherv(send, counts, rank === 0 ? new Float32Array(total) : null, 0);
      if (rank !== 0) return got === null ? null : 'non-root rank received a result';
      const expected = counts.flatMap((c, r) => Array.from({ length: c }, (_, j) => r * 100 + j));
      return firstMismatch(got!, (i) => expected[i]!);
    }],
    ['scatterv Float64Array', () => {
      const counts = Array.from({ length: size }, (_, r) => r + 2);
      const send = rank === 0
        ? Float64Array.from(counts.flatMap((c, r) => Array.from({ length: c }, (_, j) => 1000 * r + j)))
        : null;
      return firstMismatch(mpi.scatterv(send, counts, new Float64Array(rank + 2), 0), (j) => 1000 * rank + j);
    }],
    ['bcastJson / gatherJson', () => {
      const message = { text: 'subtomo ✓ Ångström', nested: [1, 2.5, { a: null }] };
      const got = mpi.bcastJson(rank === 0 ? message : undefined, 0);
      if (JSON.stringify(got) !== JSON.stringify(message)) return `bcastJson gave ${JSON.stringify(got)}`;
      const gathered = mpi.gatherJson({ rank, tag: `r${rank}`.repeat(rank + 1) }, 0);
      if (rank !== 0) return gathered === null ? null : 'non-root rank received gatherJson data';
      const ok = gathered!.length === size && gathered!.every((g, r) => g.rank === r && g.tag === `r${r}`.repeat(r + 1));
      return ok ? null : `gatherJson gave ${JSON.stringify(gathered)}`;
    }],
    ['scatterWork / gatherResults', () => {
      const items = Array.from({ length: 11 }, (_, id) => ({ id }));
      const mine = mpi.scatterWork(rank === 0 ? items : null, 0);
      const { counts, offsets } = blockPartition(items.length, size);
      if (mine.items.length !== counts[rank] || mine.offset !== offsets[rank]) {
        return `rank ${rank} got ${mine.items.length} items at ${mine.offset}`;
      }
      const results = mine.items.map((item, k) => ({ id: item.id, index: mine.offset + k, square: item.id ** 2, rank }));
      const all = mpi.gatherResults(results, 0);
      if (rank !== 0) return all === null ? null : 'non-root rank received gatherResults data';
      const ok = all!.length === items.length &&
        all!.every((res, i) => res.id === i && res.index === i && res.square === i * i);
      return ok ? null : `gatherResults gave ${JSON.stringify(all)}`;
    }],
  ];
}

function firstMismatch(got: ArrayLike<number>, expected: (i: number) => number): string | null {
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== expected(i)) return `element ${i}: got ${got[i]}, expected ${expected(i)}`;
  }
  return null;
}

/** Median time of an Allreduce of a 64³ float32 volume (1 MiB), the size class of an average update. */
function timeVolumeAllreduce(mpi: Mpi, repeats: number): number {
  const volume = new Float32Array(64 ** 3).fill(mpi.rank);
  const sum = new Float32Array(volume.length);
  const times: number[] = [];
  for (let k = 0; k < repeats; k++) {
    mpi.barrier();
    const t0 = performance.now();
    mpi.allreduceSum(volume, sum);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

await withMpi(async (mpi) => {
  const startupMs = performance.now();
  const options = parseOptions(process.argv.slice(2));
  if (options.failRank !== null && options.failRank >= mpi.size) {
    throw new Error(`fail-rank=${options.failRank} but the job has only ${mpi.size} ranks`);
  }
  printProgress({ rank: mpi.rank, phase: 'started', pid: process.pid });
  if (options.progressBytes > 0) {
    const payload = progressPayload(mpi.rank, options.progressBytes);
    const sha256 = createHash('sha256').update(payload).digest('hex');
    printProgress({ rank: mpi.rank, phase: 'payload', sha256, payload });
  }
  if (options.sleep) {
    printProgress({ rank: mpi.rank, phase: 'sleeping', pid: process.pid });
    await sleep(3_600_000);
  }
  if (options.failRank === mpi.rank) {
    process.stderr.write(`rank ${mpi.rank}: deliberate failure requested by fail-rank=${options.failRank}\n`);
    process.exit(FAIL_EXIT_CODE);
  }

  const failures: { rank: number; check: string; detail: string }[] = [];
  const list = checks(mpi);
  for (const [name, run] of list) {
    const detail = run();
    if (detail !== null) failures.push({ rank: mpi.rank, check: name, detail });
  }
  const allreduceVolumeMs = timeVolumeAllreduce(mpi, 7);
  printProgress({ rank: mpi.rank, phase: 'checked', failures: failures.length });
  const allFailures = mpi.gatherJson(failures, 0);
  const startups = mpi.gatherJson(startupMs, 0);
  if (mpi.rank === 0) {
    const flat = allFailures!.flat();
    printResult({
      ok: flat.length === 0,
      size: mpi.size,
      checks: list.map(([name]) => name),
      failures: flat,
      allreduce64CubedFloat32Ms: allreduceVolumeMs,
      rankStartupMs: startups,
    });
    if (flat.length > 0) process.exitCode = 1;
  }
});
