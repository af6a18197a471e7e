import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Replaces a file so that a crash leaves either the old or the new content, never a mix: write, fsync, rename, fsync dir. */
export async function writeFileDurably(path: string, data: Uint8Array, mode = 0o600): Promise<void> {
  // A name of its own per write: two writes of the same file at once must not share a temporary file.
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const file = await open(temporary, 'w', mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
