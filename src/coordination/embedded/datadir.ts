/**
 * The data directory, laid out like ZooKeeper's: `<dataDir>/version-2/log.<zxid>` (transaction
 * logs, named by their first zxid in hex) and `snapshot.<zxid>` (the tree as of that zxid), plus a
 * lock file that keeps a second process out.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';

const VERSION_DIR = 'version-2';
const LOCK_FILE = 'zkgate-embedded.lock';
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
  private readonly lockPath: string;

  private constructor(readonly root: string) {
    this.dir = join(root, VERSION_DIR);
    this.lockPath = join(root, LOCK_FILE);
  }

  /** Creates the directory if needed, takes the lock, and removes files a crash left half-written. */
  static async open(root: string, warn: Warn): Promise<DataDir> {
    const dataDir = new DataDir(root);
    await mkdir(dataDir.dir, { recursive: true });
    await dataDir.lock(warn);
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
      throw err;
    }
  }

  async unlock(): Promise<void> {
    await rm(this.lockPath, { force: true });
  }

  private async list(prefix: string): Promise<DataFile[]> {
    const files: DataFile[] = [];
    for (const name of await readdir(this.dir)) {
      const hex = name.startsWith(prefix) ? name.slice(prefix.length) : '';
      if (/^[0-9a-f]+$/.test(hex)) files.push({ path: join(this.dir, name), zxid: BigInt(`0x${hex}`) });
    }
    return files.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
  }

  /**
   * An exclusive lock file holding the owner's pid and host. Node has no flock, so a lock left by
   * a killed process is recognised by its dead pid (same host only) and taken over.
   */
  private async lock(warn: Warn): Promise<void> {
    const mine = JSON.stringify({ pid: process.pid, host: hostname() });
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(this.lockPath, mine, { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      }
      const holder = await readHolder(this.lockPath);
      if (holder && (holder.host !== hostname() || isAlive(holder.pid))) {
        const who = holder.pid === process.pid ? 'this process' : `process ${holder.pid} on ${holder.host}`;
        throw new Error(
          `data directory ${this.root} is in use by ${who} (lock file ${this.lockPath}); ` +
            'stop that process, or delete the lock file if it is certain that none uses the directory',
        );
      }
      warn(`taking over the lock ${this.lockPath} left by a process that is gone`);
      await rm(this.lockPath, { force: true });
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

async function readHolder(path: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown; host?: unknown };
    return typeof holder.pid === 'number' && typeof holder.host === 'string'
      ? { pid: holder.pid, host: holder.host }
      : undefined;
  } catch {
    // Unreadable or half-written: the process that wrote it died while taking the lock.
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
