import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ArtifactStore, canonicalJson, hashFile, refOf, verifyRef } from '../io/artifacts.ts';
import { writeFileAtomic } from '../io/atomic.ts';

const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'; // FIPS 180-2 test vector
const SHA_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

let root: string;
let store: ArtifactStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'subtomo-artifacts-'));
  store = new ArtifactStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A step that writes `content` to out.txt and counts its invocations. */
function writer(content: string, calls = { n: 0 }) {
  const fn = async (dir: string) => {
    calls.n++;
    await writeFile(join(dir, 'out.txt'), content);
    return { out: 'out.txt' };
  };
  return { fn, calls };
}

const tmpEntries = async () => readdir(join(root, 'work', '.tmp')).catch(() => [] as string[]);

describe('keys and hashes', () => {
  test('canonical JSON sorts keys at every depth and rejects values JSON would mangle', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(() => canonicalJson({ sigma: NaN })).toThrow(/\$\.sigma is NaN/);
    expect(() => canonicalJson({ v: new Float32Array(2) })).toThrow(/\$\.v is a Float32Array/);
    expect(() => canonicalJson([1, undefined])).toThrow(/\$\[1\] is undefined/);
  });

  test('key depends on step, code version, params and input content only', () => {
    const base = store.key('align', 'v1', { iters: 3, bw: 16 }, { ref: SHA_ABC });
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(store.key('align', 'v1', { bw: 16, iters: 3 }, { ref: SHA_ABC })).toBe(base);
    expect(new ArtifactStore(join(root, 'elsewhere')).key('align', 'v1', { bw: 16, iters: 3 }, { ref: SHA_ABC })).toBe(base);
    const variants = [
      store.key('average', 'v1', { iters: 3, bw: 16 }, { ref: SHA_ABC }),
      store.key('align', 'v2', { iters: 3, bw: 16 }, { ref: SHA_ABC }),
      store.key('align', 'v1', { iters: 4, bw: 16 }, { ref: SHA_ABC }),
      store.key('align', 'v1', { iters: 3, bw: 16 }, { ref: SHA_EMPTY }),
      store.key('align', 'v1', { iters: 3, bw: 16 }, { other: SHA_ABC }),
    ];
    expect(new Set([base, ...variants]).size).toBe(6);
    expect(store.stepDir(base)).toBe(join(root, 'work', base.slice(0, 2), base));
  });

  test('key refuses an input given as a path instead of a hash', () => {
    expect(() => store.key('align', 'v1', {}, { particles: '/data/p1.mrc' })).toThrow(/input 'particles' is not a sha256/);
    expect(() => store.stepDir('../escape')).toThrow(/not a sha256/);
  });

  test('hashFile matches the FIPS vector and notices a rewrite', async () => {
    const p = join(root, 'a.txt');
    await writeFile(p, 'abc');
    expect(await hashFile(p)).toBe(SHA_ABC);
    await writeFile(p, 'xyz');
    await utimes(p, new Date(), new Date(Date.now() + 5000)); // same size: only the mtime tells the cache
    expect(await hashFile(p)).not.toBe(SHA_ABC);
    await writeFile(p, '');
    expect(await hashFile(p)).toBe(SHA_EMPTY);
  });

  test('verifyRef accepts an untouched file and names a changed one', async () => {
    const p = join(root, 'in.mrc');
    await writeFile(p, 'abc');
    const ref = await refOf(p);
    expect(ref).toEqual({ path: p, sha256: SHA_ABC, bytes: 3 });
    await verifyRef(ref);
    await writeFile(p, 'abcd');
    await expect(verifyRef(ref)).rejects.toThrow(/in\.mrc changed since it was recorded/);
    await expect(refOf(join(root, 'missing.mrc'))).rejects.toThrow(/missing\.mrc does not exist/);
  });
});

describe('runStep', () => {
  test('computes once, then reuses the committed result', async () => {
    const key = store.key('write', 'v1', { text: 'abc' }, {});
    const w = writer('abc');
    const first = await store.runStep(key, w.fn, 'write');
    expect(first.reused).toBe(false);
    expect(first.outputs.out).toEqual({ path: join(store.stepDir(key), 'out.txt'), sha256: SHA_ABC, bytes: 3 });
    expect(await readFile(first.outputs.out.path, 'utf8')).toBe('abc');
    const marker = JSON.parse(await readFile(join(store.stepDir(key), '.done'), 'utf8'));
    expect(marker.outputs.out).toMatchObject({ file: 'out.txt', sha256: SHA_ABC, bytes: 3 });

    const second = await new ArtifactStore(root).runStep(key, w.fn, 'write');
    expect(second).toEqual({ ...first, reused: true });
    expect(w.calls.n).toBe(1);
    expect((await store.events()).map((e) => [e.event, e.label])).toEqual([['compute', 'write'], ['reuse', 'write']]);
    expect(await store.counts()).toEqual({ reused: 1, computed: 1 });
    expect(await tmpEntries()).toEqual([]);
  });

  test('recomputes when an input hash changes', async () => {
    const calls = { n: 0 };
    const a = await store.runStep(store.key('avg', 'v1', {}, { input: SHA_ABC }), writer('A', calls).fn);
    const b = await store.runStep(store.key('avg', 'v1', {}, { input: SHA_EMPTY }), writer('B', calls).fn);
    expect(calls.n).toBe(2);
    expect([a.reused, b.reused]).toEqual([false, false]);
    expect(a.dir).not.toBe(b.dir);
    expect(await readFile(a.outputs.out.path, 'utf8')).toBe('A');
    expect(await readFile(b.outputs.out.path, 'utf8')).toBe('B');
  });

  test('a step that throws commits nothing and leaves no temp dir', async () => {
    const key = store.key('fail', 'v1', {}, {});
    await expect(
      store.runStep(key, async (dir) => {
        await writeFile(join(dir, 'half.txt'), 'partial');
        throw new Error('out of memory');
      }),
    ).rejects.toThrow('out of memory');
    expect(await store.isComplete(key)).toBe(false);
    await expect(stat(store.stepDir(key))).rejects.toThrow();
    expect(await tmpEntries()).toEqual([]);
    expect(await store.counts()).toEqual({ reused: 0, computed: 0 });
    const retry = await store.runStep(key, writer('ok').fn);
    expect(retry.reused).toBe(false);
    expect(await store.isComplete(key)).toBe(true);
  });

  test('bad manifests are rejected before anything is committed', async () => {
    const key = store.key('bad', 'v1', {}, {});
    await expect(store.runStep(key, async () => ({ out: 'never-written.txt' }))).rejects.toThrow(/output 'out' \(never-written\.txt\) was not written/);
    await expect(store.runStep(key, async () => ({ out: '../../etc/passwd' }))).rejects.toThrow(/not inside its working directory/);
    await expect(
      store.runStep(key, async (dir) => {
        await mkdir(join(dir, 'sub'));
        return { out: 'sub' };
      }),
    ).rejects.toThrow(/not a regular file/);
    expect(await store.isComplete(key)).toBe(false);
    expect(await tmpEntries()).toEqual([]);
  });

  test('leftovers of a crashed run are cleaned (dead pid here) or ignored (other host)', async () => {
    const key = store.key('crash', 'v1', {}, {});
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const ours = `${key}.${hostname()}.${deadPid}.0123456789ab`;
    const foreign = `${key}.other-node.cluster.${deadPid}.0123456789ab`;
    for (const name of [ours, foreign]) {
      await mkdir(join(root, 'work', '.tmp', name), { recursive: true });
      await writeFile(join(root, 'work', '.tmp', name, 'out.txt'), 'torn');
    }
    expect(await store.isComplete(key)).toBe(false);
    const r = await store.runStep(key, writer('whole').fn);
    expect(r.reused).toBe(false);
    expect(await readFile(r.outputs.out.path, 'utf8')).toBe('whole');
    expect(await tmpEntries()).toEqual([foreign]);
  });

  test('a step dir without a done-marker is not complete and gets replaced', async () => {
    const key = store.key('torn', 'v1', {}, {});
    await mkdir(store.stepDir(key), { recursive: true });
    await writeFile(join(store.stepDir(key), 'out.txt'), 'torn');
    expect(await store.isComplete(key)).toBe(false);
    const r = await store.runStep(key, writer('whole').fn);
    expect(r.reused).toBe(false);
    expect(await readFile(join(store.stepDir(key), 'out.txt'), 'utf8')).toBe('whole');
    expect(await store.isComplete(key)).toBe(true);
  });

  test('a missing, truncated or rewritten output invalidates the marker and the step is recomputed', async () => {
    const key = store.key('verify', 'v1', {}, {});
    const w = writer('0123456789');
    const out = (await store.runStep(key, w.fn)).outputs.out.path;

    await truncate(out, 4);
    expect(await store.isComplete(key)).toBe(false);
    expect((await store.runStep(key, w.fn)).reused).toBe(false);
    expect(await readFile(out, 'utf8')).toBe('0123456789');

    await writeFile(out, '9876543210'); // same size, new mtime: caught by the hash
    expect(await store.isComplete(key)).toBe(false);
    expect((await store.runStep(key, w.fn)).reused).toBe(false);

    await rm(out);
    expect(await store.isComplete(key)).toBe(false);
    expect((await store.runStep(key, w.fn)).reused).toBe(false);

    expect(await store.isComplete(key)).toBe(true);
    expect((await store.runStep(key, w.fn)).reused).toBe(true);
    expect(w.calls.n).toBe(4);
    expect(await readFile(out, 'utf8')).toBe('0123456789');
  });

  test('two concurrent attempts of one step both succeed and agree on one committed result', async () => {
    const key = store.key('race', 'v1', {}, {});
    const slow = (content: string) => async (dir: string) => {
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(join(dir, 'out.txt'), content);
      return { out: 'out.txt' };
    };
    // Different content stands for a non-bit-reproducible step: the loser must adopt the winner's result.
    const [a, b] = await Promise.all([store.runStep(key, slow('first')), store.runStep(key, slow('second'))]);
    expect(a.outputs).toEqual(b.outputs);
    expect(await store.isComplete(key)).toBe(true);
    expect(await hashFile(a.outputs.out.path)).toBe(a.outputs.out.sha256);
    expect(await tmpEntries()).toEqual([]);
  });
});

test('writeFileAtomic creates parents, replaces content and leaves no temp files', async () => {
  const p = join(root, 'deep', 'er', 'state.json');
  await writeFileAtomic(p, '{"a":1}');
  await writeFileAtomic(p, new TextEncoder().encode('{"a":2}'));
  expect(await readFile(p, 'utf8')).toBe('{"a":2}');
  expect(await readdir(join(root, 'deep', 'er'))).toEqual(['state.json']);
});
