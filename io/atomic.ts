/** Atomic file writes: readers see the old or the new content, never a prefix, even after a crash. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a temp file in the same directory, fsyncs it, renames it over `path`, then fsyncs the directory.
 * `createParent: false` makes a missing directory an error (a mistyped output path) instead of creating it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { createParent?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  if (opts.createParent ?? true) await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes a rename durable; where a directory cannot be opened or fsynced there is nothing more to do. */
async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // not supported on this platform; the data itself was already fsynced
  } finally {
    await fh?.close();
  }
}
