/**
 * The last copy of each namespace on disk, so an application whose gateway is down at boot still
 * starts (Apollo's and Nacos's local cache). One file per namespace, written to a temporary name
 * and renamed, so a crash mid-write leaves the previous copy rather than half of the new one;
 * mode 0600, since config often holds secrets.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export interface CachedDocument {
  readonly namespace: string;
  readonly version: number;
  /** The zxid of the release, in decimal. */
  readonly index: string;
  readonly format: string;
  readonly raw: string;
}

export class DiskCache {
  constructor(private readonly dir: string) {}

  /** The file of `namespace`: one flat name, so no namespace can address a path outside `dir`. */
  fileOf(namespace: string): string {
    return join(this.dir, `${encodeURIComponent(namespace)}.json`);
  }

  async read(namespace: string): Promise<CachedDocument | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(namespace), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = JSON.parse(text) as Partial<CachedDocument>;
    if (
      parsed.namespace !== namespace ||
      typeof parsed.version !== 'number' ||
      typeof parsed.raw !== 'string' ||
      typeof parsed.index !== 'string' ||
      typeof parsed.format !== 'string'
    ) {
      throw new Error(`${this.fileOf(namespace)} is not a zkgate cache file`);
    }
    return parsed as CachedDocument;
  }

  async write(document: CachedDocument): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(document.namespace);
    const temporary = `${file}.${randomUUID()}.tmp`;
    await writeFile(temporary, JSON.stringify(document), { mode: 0o600, flush: true });
    await rename(temporary, file);
  }
}
