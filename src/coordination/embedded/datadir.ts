/**
 * The data directory, laid out like ZooKeeper's: `<dataDir>/version-2/log.<zxid>` (transaction
 * logs, named by their first zxid in hex) and `snapshot.<zxid>` (the tree as of that zxid), plus a
 * lock that keeps a second process out.
 */
import { join } from 'node:path';
import { mkdir, open, readdir, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import lockfile from 'proper-lockfile';

const VERSION_DIR = 'version-2';
/**
 * The lock is a lease: its holder refreshes it every LOCK_UPDATE_MS, and one not refreshed for
 * LOCK_STALE_MS belongs to a process that is gone, whatever pid namespace or host it ran in (a
 * restarted container reuses pid 1 and may get a new hostname). Taking it over is atomic.
 */
const LOCK_STALE_MS = 10_000;
const LOCK_UPDATE_MS = 2_500;
const LOCK_NAME = 'zkgate-embedded.lock';
const TMP_SUFFIX = '.tmp';

/** A log (named by its first zxid) or a snapshot (named by the zxid it reflects). */
export interface DataFile {
  readonly path: string;
  readonly zxid: bigint;
}

export type Warn = (message: string) => void;

/** The files of one data directory, held under its lock. */
export class DataDir {
  /** Where logs and snapshots live. */
  readonly dir: string;
  private release: (() => Promise<void>) | undefined;
  private lost: Error | undefined;
  private readonly lostListeners = new Set<(err: Error) => void>();

  private constructor(readonly root: string) {
    this.dir = join(root, VERSION_DIR);
  }

  /** Creates the directory if needed, takes the lock, and removes files a crash left half-written. */
  /** `lockWaitMs`: how long to wait for the lock of another process to be released or to expire. */
  static async open(root: string, warn: Warn, lockWaitMs: number): Promise<DataDir> {
    const dataDir = new DataDir(root);
    const created = await mkdir(dataDir.dir, { recursive: true });
    // A new directory entry is durable only once its parent is synced.
    if (created !== undefined) await fsyncDir(root);
    await dataDir.lock(warn, lockWaitMs);
    for (const name of await readdir(dataDir.dir)) {
      if (name.endsWith(TMP_SUFFIX)) await rm(join(dataDir.dir, name), { force: true });
    }
    return dataDir;
  }

  logPath(zxid: bigint): string {
    return join(this.dir, `log.${zxid.toString(16)}`);
  }

  snapshotPath(zxid: bigint): string {
    return join(this.dir, `snapshot.${zxid.toString(16)}`);
  }

  /** Transaction logs, oldest first. */
  logs(): Promise<DataFile[]> {
    return this.list('log.');
  }

  /** Snapshots, newest first. */
  async snapshots(): Promise<DataFile[]> {
    return (await this.list('snapshot.')).reverse();
  }

  /**
   * ZooKeeper's autopurge: keeps the newest `retain` snapshots and the logs needed to replay from
   * the oldest of them (every log starting after it, and the last one starting at or before it).
   */
  async purge(retain: number): Promise<void> {
    const snapshots = await this.snapshots();
    const oldestKept = snapshots[Math.min(retain, snapshots.length) - 1];
    if (!oldestKept) return;
    const logs = await this.logs();
    const firstNeeded = logs.findLastIndex((log) => log.zxid <= oldestKept.zxid);
    const doomed = [...snapshots.slice(retain), ...logs.slice(0, Math.max(firstNeeded, 0))];
    for (const file of doomed) await unlink(file.path);
    if (doomed.length > 0) await fsyncDir(this.dir);
  }

  /** Writes a whole file so that it appears complete or not at all (see {@link createFile}). */
  async writeAtomically(path: string, contents: Buffer): Promise<void> {
    await (await this.createFile(path, contents)).close();
  }

  /**
   * Creates a file holding `contents` under a temporary name, fsyncs it, renames it into place and
   * fsyncs the directory, so that a file under its final name is always complete. Returns it open,
   * positioned for appending.
   */
  async createFile(path: string, contents: Buffer): Promise<FileHandle> {
    const tmp = path + TMP_SUFFIX;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(contents);
      await handle.sync();
      await rename(tmp, path);
      await fsyncDir(this.dir);
      return handle;
    } catch (err) {
      await handle.close();
      // A failed attempt (a full disk, say) must not leave its partial file behind.
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async unlock(): Promise<void> {
    const release = this.release;
    this.release = undefined;
    if (release && !this.lost) await release();
  }

  /**
   * Told when the lock is lost (it could not be refreshed, or another process took it over after
   * this one stalled past the lease): from then on this process must not write.
   */
  onLockLost(listener: (err: Error) => void): void {
    if (this.lost) listener(this.lost);
    else this.lostListeners.add(listener);
  }

  private async list(prefix: string): Promise<DataFile[]> {
    const files: DataFile[] = [];
    for (const name of await readdir(this.dir)) {
      const hex = name.startsWith(prefix) ? name.slice(prefix.length) : '';
      if (/^[0-9a-f]+$/.test(hex)) files.push({ path: join(this.dir, name), zxid: BigInt(`0x${hex}`) });
    }
    return files.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
  }

  private async lock(warn: Warn, waitMs: number): Promise<void> {
    try {
      this.release = await lockfile.lock(this.root, {
        lockfilePath: join(this.root, LOCK_NAME),
        stale: LOCK_STALE_MS,
        update: LOCK_UPDATE_MS,
        realpath: false,
        retries: { retries: Math.ceil(waitMs / 500), factor: 1, minTimeout: 500, maxTimeout: 500 },
        onCompromised: (err) => {
          this.lost = err;
          warn(`lost the lock on ${this.root}: ${err.message}`);
          for (const listener of this.lostListeners) listener(err);
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      throw new Error(
        `data directory ${this.root} is in use by another process (its lock ${LOCK_NAME} is being ` +
          `refreshed); a lock left by a process that died expires within ${LOCK_STALE_MS / 1000} s`,
        { cause: err },
      );
    }
  }
}

/** Makes renames, creations and deletions in a directory durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
