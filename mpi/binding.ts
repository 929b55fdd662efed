/**
 * OpenMPI 4.x for Node rank programs through koffi (FFI): no compiled addon, no Node-headers download.
 * Everything here runs inside a rank started by mpirun (see launcher.ts); the library is loaded lazily by
 * `Mpi.init()` so importing this module never requires MPI.
 *
 * OpenMPI's MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM … are addresses of exported symbols (`&ompi_mpi_comm_world`),
 * not integers as in MPICH: we declare each symbol as an opaque struct, and koffi hands back a pointer to it.
 * Buffers are passed as `void *`; koffi passes a TypedArray's memory in place (no copy), so receive buffers
 * are filled directly.
 */
import { hostname } from 'node:os';
import koffi from 'koffi';
import { blockPartition } from './partition.ts';
import { printReady } from './protocol.ts';

export const MPI_LIBRARY = 'libmpi.so.40';
const MPI_MAX_ERROR_STRING = 256;
const MAX_COUNT = 0x7fffffff;

/** Arrays that can travel through MPI; the MPI datatype follows from the array type. */
export type MpiArray = Float32Array | Float64Array | Int32Array | Uint8Array;
/** Arrays that can be summed by Reduce/Allreduce. */
export type MpiFloatArray = Float32Array | Float64Array;

type Handle = unknown;
type Fn = (...args: unknown[]) => number;

interface MpiLibrary {
  init: Fn; initialized: Fn; finalize: Fn; finalized: Fn; errorString: Fn;
  commRank: Fn; commSize: Fn; barrier: Fn; bcast: Fn; gather: Fn;
  scatterv: Fn; gatherv: Fn; reduce: Fn; allreduce: Fn;
  commWorld: Handle; byte: Handle; int: Handle; float: Handle; double: Handle; sum: Handle;
}

// koffi ≥ 2.8 accepts load options (RTLD_GLOBAL) but its index.d.ts still declares load(path) only.
type LoadWithOptions = (path: string, options: { global?: boolean; lazy?: boolean }) => koffi.IKoffiLib;

let library: MpiLibrary | null = null;

function loadLibrary(): MpiLibrary {
  if (library) return library;
  let lib: koffi.IKoffiLib;
  try {
    // RTLD_GLOBAL: OpenMPI dlopen()s its MCA plugins (mca_btl_vader.so, …), which resolve libmpi/libopen-pal
    // symbols from the global namespace; with RTLD_LOCAL MPI_Init fails to find its components.
    lib = (koffi.load as unknown as LoadWithOptions)(MPI_LIBRARY, { global: true });
  } catch (err) {
    throw new Error(
      `cannot load the MPI library ${MPI_LIBRARY} (OpenMPI 4.x): ${err instanceof Error ? err.message : err}. ` +
        'Install OpenMPI with: apt-get install openmpi-bin libopenmpi-dev',
    );
  }
  const opaque = koffi.opaque('ompi_predefined_object');
  const fn = (proto: string): Fn => lib.func(proto) as Fn;
  library = {
    init: fn('int MPI_Init(void *argc, void *argv)'),
    initialized: fn('int MPI_Initialized(_Out_ int *flag)'),
    finalize: fn('int MPI_Finalize()'),
    finalized: fn('int MPI_Finalized(_Out_ int *flag)'),
    errorString: fn('int MPI_Error_string(int code, void *text, _Out_ int *length)'),
    commRank: fn('int MPI_Comm_rank(void *comm, _Out_ int *rank)'),
    commSize: fn('int MPI_Comm_size(void *comm, _Out_ int *size)'),
    barrier: fn('int MPI_Barrier(void *comm)'),
    bcast: fn('int MPI_Bcast(void *buf, int count, void *type, int root, void *comm)'),
    gather: fn('int MPI_Gather(void *send, int sendCount, void *sendType, void *recv, int recvCount, void *recvType, int root, void *comm)'),
    scatterv: fn('int MPI_Scatterv(void *send, void *counts, void *displs, void *sendType, void *recv, int recvCount, void *recvType, int root, void *comm)'),
    gatherv: fn('int MPI_Gatherv(void *send, int sendCount, void *sendType, void *recv, void *counts, void *displs, void *recvType, int root, void *comm)'),
    reduce: fn('int MPI_Reduce(void *send, void *recv, int count, void *type, void *op, int root, void *comm)'),
    allreduce: fn('int MPI_Allreduce(void *send, void *recv, int count, void *type, void *op, void *comm)'),
    commWorld: lib.symbol('ompi_mpi_comm_world', opaque),
    byte: lib.symbol('ompi_mpi_byte', opaque),
    int: lib.symbol('ompi_mpi_int', opaque),
    float: lib.symbol('ompi_mpi_float', opaque),
    double: lib.symbol('ompi_mpi_double', opaque),
    sum: lib.symbol('ompi_mpi_op_sum', opaque),
  };
  return library;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** MPI_COMM_WORLD of this process. Create with `Mpi.init()`; the world is fixed for the process lifetime. */
export class Mpi {
  readonly rank: number;
  readonly size: number;
  private finalized = false;

  private constructor(private readonly lib: MpiLibrary) {
    const out = [0];
    this.check('MPI_Comm_rank', lib.commRank(lib.commWorld, out));
    this.rank = out[0]!;
    this.check('MPI_Comm_size', lib.commSize(lib.commWorld, out));
    this.size = out[0]!;
  }

  /** Loads libmpi and calls MPI_Init (once per process; MPI cannot be re-initialised after Finalize). */
  static init(): Mpi {
    const lib = loadLibrary();
    const flag = [0];
    lib.initialized(flag);
    if (!flag[0]) {
      const code = lib.init(null, null);
      if (code !== 0) throw new Error(`MPI_Init failed with code ${code}`);
    }
    return new Mpi(lib);
  }

  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.check('MPI_Finalize', this.lib.finalize());
  }

  barrier(): void {
    this.check('MPI_Barrier', this.lib.barrier(this.lib.commWorld));
  }

  /** Broadcasts `buf` from `root` in place: every rank passes an array of the same type and length. */
  bcast<T extends MpiArray>(buf: T, root = 0): T {
    this.checkRoot(root);
    this.check('MPI_Bcast', this.lib.bcast(buf, count(buf.length), this.datatype(buf), root, this.lib.commWorld));
    return buf;
  }

  /**
   * Root sends `counts[r]` consecutive elements of `send` to rank r; every rank receives into `recv`
   * (length counts[rank]). `send` is only read on the root (pass null elsewhere); `counts` must agree on all ranks.
   */
  scatterv<T extends MpiArray>(send: T | null, counts: ArrayLike<number>, recv: T, root = 0): T {
    this.checkRoot(root);
    const { counts32, displs, total } = this.layout(counts, 'scatterv');
    if (recv.length !== counts32[this.rank]) {
      throw new Error(`scatterv: rank ${this.rank} receive buffer has ${recv.length} elements, expected ${counts32[this.rank]}`);
    }
    if (this.rank === root && (!send || send.length < total)) {
      throw new Error(`scatterv: root send buffer has ${send?.length ?? 0} elements, counts need ${total}`);
    }
    const type = this.datatype(recv);
    this.check('MPI_Scatterv', this.lib.scatterv(
      this.rank === root ? send : null, counts32, displs, type, recv, recv.length, type, root, this.lib.commWorld));
    return recv;
  }

  /**
   * Every rank sends `send` (length counts[rank]); root receives the concatenation in rank order in `recv`.
   * `recv` is only written on the root (pass null elsewhere); `counts` must agree on all ranks.
   */
  gatherv<T extends MpiArray>(send: T, counts: ArrayLike<number>, recv: T | null, root = 0): T | null {
    this.checkRoot(root);
    const { counts32, displs, total } = this.layout(counts, 'gatherv');
    if (send.length !== counts32[this.rank]) {
      throw new Error(`gatherv: rank ${this.rank} sends ${send.length} elements, counts say ${counts32[this.rank]}`);
    }
    if (this.rank === root && (!recv || recv.length < total)) {
      throw new Error(`gatherv: root receive buffer has ${recv?.length ?? 0} elements, counts need ${total}`);
    }
    const type = this.datatype(send);
    this.check('MPI_Gatherv', this.lib.gatherv(
      send, send.length, type, this.rank === root ? recv : null, counts32, displs, type, root, this.lib.commWorld));
    return this.rank === root ? recv : null;
  }

  /** Element-wise sum over ranks into `recv` on root (a new array if omitted); null on the other ranks. */
  reduceSum<T extends MpiFloatArray>(send: T, root = 0, recv?: T): T | null {
    this.checkRoot(root);
    const out = this.rank === root ? (recv ?? sameKind(send)) : null;
    if (out && out.length !== send.length) throw new Error(`reduceSum: receive length ${out.length} ≠ ${send.length}`);
    this.check('MPI_Reduce', this.lib.reduce(
      send, out, count(send.length), this.datatype(send), this.lib.sum, root, this.lib.commWorld));
    return out;
  }

  /** Element-wise sum over ranks, result on every rank (into `recv`, or a new array). */
  allreduceSum<T extends MpiFloatArray>(send: T, recv?: T): T {
    const out = recv ?? sameKind(send);
    if (out.length !== send.length) throw new Error(`allreduceSum: receive length ${out.length} ≠ ${send.length}`);
    if (out.buffer === send.buffer) throw new Error('allreduceSum: send and receive buffers must not overlap');
    this.check('MPI_Allreduce', this.lib.allreduce(
      send, out, count(send.length), this.datatype(send), this.lib.sum, this.lib.commWorld));
    return out;
  }

  /** Broadcasts a JSON-able value from root (length, then UTF-8 bytes); `value` is ignored off the root. */
  bcastJson<T>(value: T | undefined, root = 0): T {
    const bytes = this.rank === root ? encodeJson(value, 'bcastJson') : null;
    const length = this.bcast(new Int32Array([bytes?.length ?? 0]), root)[0]!;
    return decodeJson(this.bcast(bytes ?? new Uint8Array(length), root)) as T;
  }

  /** Gathers one JSON-able value per rank to root, in rank order; null on the other ranks. */
  gatherJson<T>(value: T, root = 0): T[] | null {
    this.checkRoot(root);
    const bytes = encodeJson(value, 'gatherJson');
    const lengths = this.rank === root ? new Int32Array(this.size) : null;
    this.check('MPI_Gather', this.lib.gather(
      new Int32Array([bytes.length]), 1, this.lib.int, lengths, 1, this.lib.int, root, this.lib.commWorld));
    const counts = lengths ?? new Int32Array(this.size);
    if (this.rank !== root) counts[this.rank] = bytes.length;
    // Non-root ranks only need their own count to be right: MPI reads recvcounts on the root only.
    const all = this.rank === root ? new Uint8Array(sumOf(counts)) : null;
    this.check('MPI_Gatherv', this.lib.gatherv(
      bytes, bytes.length, this.lib.byte, all, counts, displacements(counts), this.lib.byte, root, this.lib.commWorld));
    if (!all) return null;
    const out: T[] = [];
    let offset = 0;
    for (const n of counts) {
      out.push(decodeJson(all.subarray(offset, offset + n)) as T);
      offset += n;
    }
    return out;
  }

  /** Root sends `perRank[r]` (JSON-able) to rank r; `perRank` (length = size) is only read on the root. */
  scatterJson<T>(perRank: readonly T[] | null, root = 0): T {
    this.checkRoot(root);
    let payload: Uint8Array | null = null;
    let lengths: Int32Array | null = null;
    if (this.rank === root) {
      if (!perRank || perRank.length !== this.size) {
        throw new Error(`scatterJson: root must pass one value per rank (${this.size}), got ${perRank?.length ?? 0}`);
      }
      const parts = perRank.map((v) => encodeJson(v, 'scatterJson'));
      lengths = Int32Array.from(parts, (p) => p.length);
      payload = new Uint8Array(sumOf(lengths));
      let offset = 0;
      for (const p of parts) {
        payload.set(p, offset);
        offset += p.length;
      }
    }
    const ones = new Int32Array(this.size).fill(1);
    const myLength = this.scatterv(lengths, ones, new Int32Array(1), root)[0]!;
    // Only the root's counts matter to MPI_Scatterv; other ranks must know their own receive count.
    const counts = lengths ?? new Int32Array(this.size);
    counts[this.rank] = myLength;
    const mine = new Uint8Array(myLength);
    this.check('MPI_Scatterv', this.lib.scatterv(
      payload, counts, displacements(counts), this.lib.byte, mine, myLength, this.lib.byte, root, this.lib.commWorld));
    return decodeJson(mine) as T;
  }

  /**
   * Distributes work items from root in contiguous, balanced blocks (see `blockPartition`): returns this rank's
   * items and the global index of the first one. `items` is only read on the root.
   */
  scatterWork<T>(items: readonly T[] | null, root = 0): { items: T[]; offset: number } {
    let blocks: { items: T[]; offset: number }[] | null = null;
    if (this.rank === root) {
      if (!items) throw new Error('scatterWork: root must pass the work items');
      const { counts, offsets } = blockPartition(items.length, this.size);
      blocks = counts.map((n, r) => ({ items: items.slice(offsets[r], offsets[r]! + n), offset: offsets[r]! }));
    }
    return this.scatterJson(blocks, root);
  }

  /** Inverse of scatterWork: concatenates every rank's results in rank order on root (original item order). */
  gatherResults<R>(local: readonly R[], root = 0): R[] | null {
    const perRank = this.gatherJson(local, root);
    return perRank ? perRank.flat() as R[] : null;
  }

  private layout(counts: ArrayLike<number>, what: string): { counts32: Int32Array; displs: Int32Array; total: number } {
    if (counts.length !== this.size) throw new Error(`${what}: ${counts.length} counts for ${this.size} ranks`);
    const counts32 = Int32Array.from(counts as ArrayLike<number>, (c) => {
      if (!Number.isInteger(c) || c < 0) throw new Error(`${what}: invalid count ${c}`);
      return c;
    });
    return { counts32, displs: displacements(counts32), total: sumOf(counts32) };
  }

  private datatype(buf: MpiArray): Handle {
    if (buf instanceof Float32Array) return this.lib.float;
    if (buf instanceof Float64Array) return this.lib.double;
    if (buf instanceof Int32Array) return this.lib.int;
    return this.lib.byte;
  }

  private checkRoot(root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new Error(`MPI root ${root} is not a rank of this ${this.size}-rank job`);
    }
  }

  private check(call: string, code: number): void {
    if (code === 0) return;
    const text = new Uint8Array(MPI_MAX_ERROR_STRING);
    const length = [0];
    this.lib.errorString(code, text, length);
    throw new Error(`${call} failed on rank ${this.rank}: ${textDecoder.decode(text.subarray(0, length[0]))} (code ${code})`);
  }
}

/**
 * Runs a rank program: MPI_Init, `main`, MPI_Finalize. An exception is printed to stderr and the process exits
 * with code 1, which makes mpirun abort the whole job (the launcher then names this rank).
 */
export async function withMpi(main: (mpi: Mpi) => Promise<void> | void): Promise<void> {
  const mpi = Mpi.init();
  printReady({ rank: mpi.rank, host: hostname(), pid: process.pid });
  try {
    await main(mpi);
  } catch (err) {
    process.stderr.write(`rank ${mpi.rank}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
  mpi.finalize();
}

function count(n: number): number {
  if (n > MAX_COUNT) throw new Error(`MPI message of ${n} elements exceeds the 2³¹−1 element limit of MPI counts`);
  return n;
}

function sameKind<T extends MpiFloatArray>(a: T): T {
  return new (a.constructor as new (n: number) => T)(a.length);
}

function sumOf(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

function displacements(counts: ArrayLike<number>): Int32Array {
  const displs = new Int32Array(counts.length);
  for (let i = 1; i < counts.length; i++) displs[i] = displs[i - 1]! + counts[i - 1]!;
  if (counts.length > 0 && displs[counts.length - 1]! + counts[counts.length - 1]! > MAX_COUNT) {
    throw new Error('MPI message exceeds the 2³¹−1 element limit of MPI displacements');
  }
  return displs;
}

function encodeJson(value: unknown, what: string): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined) throw new Error(`${what}: value is not JSON-serialisable`);
  return textEncoder.encode(text);
}

function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(textDecoder.decode(bytes));
}
