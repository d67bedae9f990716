/**
 * Leader election, ZooKeeper's recipe as Curator's `LeaderLatch` does it: every candidate
 * creates an ephemeral-sequential znode under the election path; the lowest sequence leads; each
 * other candidate watches only its predecessor, so a leader's departure wakes one candidate, not
 * the whole herd.
 *
 * Leadership is given up at once when the session is in doubt (`disconnected`) or lost
 * (`expired`): a replica that cannot prove its session is alive must not act as leader. On a
 * reconnect within the session it is re-checked; on a new session the candidate znode is created
 * again.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, isStoreError } from './errors.js';
import { basename } from './paths.js';
import { mkdirs, orAbsent, readChildren } from './recipes.js';
import { Listeners, Rerun } from './rerun.js';
import { CreateMode, type CoordinationStore, type Op, type StoreLogger } from './store.js';

export interface LeaderElectionOptions {
  /** The election's znode, e.g. `/zkgate/election/leader`. */
  readonly path: string;
  /** Stored in the candidate znode: who this is (a replica id), for status pages. */
  readonly participant: string;
  readonly logger: StoreLogger;
}

/**
 * @example
 * const election = new LeaderElection(store, { path: '/zkgate/election/leader', participant: replicaId, logger });
 * election.onChange((leading) => (leading ? reaper.start() : reaper.stop()));
 * await election.start();
 */
export class LeaderElection {
  /** Protection-mode prefix: finds our own znode again after a create whose answer was lost. */
  private readonly prefix = `latch-${randomUUID()}-`;
  private ourNode: string | undefined;
  private leading = false;
  private running = false;
  private readonly checks: Rerun;
  private readonly listeners: Listeners<boolean>;
  private stopSession: (() => void) | undefined;
  /** One function, so checks after reconnects re-arm one watch rather than pile up more. */
  private readonly watcher = (): void => this.checks.request();

  constructor(
    private readonly store: CoordinationStore,
    private readonly options: LeaderElectionOptions,
  ) {
    this.listeners = new Listeners(options.logger, 'leadership');
    this.checks = new Rerun(
      () => this.checkOnce(),
      () => this.running,
      (err) => {
        this.setLeading(false);
        options.logger.warn({ err, path: options.path }, 'leader election check failed; retrying');
      },
    );
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * A `check` to put first in a multi that only the leader may commit: it fails unless this
   * candidate's znode still exists. Once a candidate leads no lower sequence can appear, so its
   * znode existing means it still leads; a leader whose session expired, or whose znode was
   * removed, while it did not notice (a leader watches nothing) has its write refused by
   * ZooKeeper itself. Undefined when not leading.
   */
  fence(): Op | undefined {
    if (!this.leading || this.ourNode === undefined) return undefined;
    return { op: 'check', path: this.ourNode, version: 0 };
  }

  /** Check leadership again now (after a fenced write was refused). */
  recheck(): void {
    this.setLeading(false);
    this.checks.request();
  }

  /** Called with every change of leadership. Returns the unsubscribe function. */
  onChange(listener: (leading: boolean) => void): () => void {
    return this.listeners.add(listener);
  }

  /** Join the election; resolves once the candidate znode exists and leadership was checked. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopSession = this.store.onStateChange((event) => {
      if (event.state === 'disconnected' || event.state === 'expired') this.setLeading(false);
      if (event.state === 'expired') this.ourNode = undefined;
      if (event.state === 'connected') this.checks.request();
    });
    await mkdirs(this.store, this.options.path);
    this.checks.request();
    await this.checks.current;
  }

  /** Leave the election: leadership ends and the candidate znode is deleted. */
  async close(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopSession?.();
    this.setLeading(false);
    await this.checks.current?.catch(() => undefined);
    const node = this.ourNode;
    this.ourNode = undefined;
    if (node) {
      try {
        await this.store.delete(node);
      } catch (err) {
        if (!isStoreError(err, ErrorCode.NO_NODE) && this.store.state === 'connected') throw err;
      }
    }
  }

  /** The participants in line, leader first (for status pages). */
  async participants(): Promise<string[]> {
    // No directory: nobody ever stood in this tree (the first replica waits for its hot store).
    const candidates =
      (await orAbsent(readChildren(this.store, this.options.path))) ?? new Map<string, Buffer>();
    return [...candidates].sort(([a], [b]) => bySequence(a, b)).map(([, data]) => data.toString('utf8'));
  }

  private async checkOnce(): Promise<void> {
    if (this.store.state !== 'connected') return;
    if (!this.ourNode) this.ourNode = await this.createCandidate();
    const { children } = await this.store.getChildren(this.options.path);
    const ordered = children.sort(bySequence);
    const mine = ordered.indexOf(basename(this.ourNode));
    if (mine < 0) {
      // Our znode is gone (deleted by hand, or a session we no longer have): stand again.
      this.ourNode = undefined;
      this.checks.request();
      return;
    }
    if (mine === 0) return this.setLeading(true);
    this.setLeading(false);
    const predecessor = `${this.options.path}/${ordered[mine - 1]}`;
    // Watch only the one ahead of us; if it is already gone, look again at once.
    const stat = await this.store.exists(predecessor, this.watcher);
    if (!stat) this.checks.request();
  }

  private async createCandidate(): Promise<string> {
    const path = `${this.options.path}/${this.prefix}`;
    const data = Buffer.from(this.options.participant, 'utf8');
    try {
      return await this.store.create(path, data, CreateMode.EPHEMERAL_SEQUENTIAL);
    } catch (err) {
      if (!isStoreError(err) || !err.recoverable) throw err;
      // The create may have happened with its answer lost: find it by our prefix.
      const { children } = await this.store.getChildren(this.options.path);
      const ours = children.find((c) => c.startsWith(this.prefix));
      if (ours) return `${this.options.path}/${ours}`;
      throw err;
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    this.listeners.emit(leading);
  }
}

/** Candidates sort by the sequence ZooKeeper appended, whatever their prefix. */
function bySequence(a: string, b: string): number {
  return a.slice(-10).localeCompare(b.slice(-10));
}
