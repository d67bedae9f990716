/**
 * Group membership, Curator's `GroupMember` recipe: every member holds an ephemeral znode named
 * after it under the group's path, so the group is the live sessions. A member that dies leaves
 * the group when its session expires; one that loses its session re-joins with the next.
 *
 * A member that cannot prove its session is alive (disconnected or expired) does not count itself
 * in: `joined` is false until the session is back and its znode is seen in a fresh listing.
 */
import { ErrorCode, isStoreError } from './errors.js';
import { mkdirs, readChildren } from './recipes.js';
import { Listeners, Rerun } from './rerun.js';
import { CreateMode, type CoordinationStore, type StoreLogger } from './store.js';

export interface GroupMembershipOptions {
  /** The group's znode, e.g. `/zkgate/gateways`. */
  readonly path: string;
  /** This member's name in the group: a valid znode name, unique per process. */
  readonly id: string;
  /** Stored in the member's znode (for status pages). */
  readonly data: Buffer;
  readonly logger: StoreLogger;
}

/** What a listener hears: the members (sorted), and whether this member is one of them. */
export interface GroupView {
  readonly members: readonly string[];
  readonly joined: boolean;
}

export class GroupMembership {
  private view: GroupView = { members: [], joined: false };
  private running = false;
  private created = false;
  private readonly checks: Rerun;
  private readonly listeners: Listeners<GroupView>;
  private stopSession: (() => void) | undefined;
  /** One function, so listings after reconnects re-arm one watch rather than pile up more. */
  private readonly watcher = (): void => this.checks.request();

  constructor(
    private readonly store: CoordinationStore,
    private readonly options: GroupMembershipOptions,
  ) {
    this.listeners = new Listeners(options.logger, 'group');
    this.checks = new Rerun(
      () => this.checkOnce(),
      () => this.running,
      (err) => options.logger.warn({ err, path: options.path }, 'group membership check failed; retrying'),
    );
  }

  get current(): GroupView {
    return this.view;
  }

  /** Called with every change of the group or of this member's standing; returns the unsubscribe function. */
  onChange(listener: (view: GroupView) => void): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Join; resolves once the member's znode exists and the group was listed. Rejects when the id
   * is held by another live session.
   */
  async start(): Promise<void> {
    if (this.running) return;
    // Joined once before anything retries: a duplicate id is refused here, not retried forever.
    await mkdirs(this.store, this.options.path);
    await this.join();
    this.running = true;
    this.stopSession = this.store.onStateChange((event) => {
      if (event.state === 'connected') {
        if (event.newSession) this.created = false;
        this.checks.request();
      } else {
        if (event.state === 'expired') this.created = false;
        this.publish({ members: this.view.members, joined: false });
      }
    });
    this.checks.request();
    await this.checks.current;
  }

  /** Leave: the member's znode is deleted at once rather than at session expiry. */
  async close(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopSession?.();
    await this.checks.current?.catch(() => undefined);
    this.publish({ members: this.view.members, joined: false });
    if (!this.created) return;
    this.created = false;
    try {
      await this.store.delete(this.ownPath());
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE) && this.store.state === 'connected') throw err;
    }
  }

  /** Each member's data, by id; members whose znode went meanwhile are left out. */
  async describe(): Promise<Map<string, Buffer>> {
    const members = await readChildren(this.store, this.options.path);
    return new Map([...members].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  private async checkOnce(): Promise<void> {
    if (this.store.state !== 'connected') return;
    if (!this.created) await this.join();
    const { children } = await this.store.getChildren(this.options.path, this.watcher);
    const members = [...children].sort();
    if (!members.includes(this.options.id)) {
      // Deleted under us (by hand, or a session we no longer have): join again.
      this.created = false;
      this.checks.request();
    }
    this.publish({ members, joined: this.created && this.store.state === 'connected' });
  }

  private async join(): Promise<void> {
    try {
      await this.store.create(this.ownPath(), this.options.data, CreateMode.EPHEMERAL);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NODE_EXISTS)) throw err;
      // Ours when a create's answer was lost; another session's means the id is not unique.
      const stat = await this.store.exists(this.ownPath());
      if (stat && stat.ephemeralOwner !== this.store.sessionId) {
        throw new Error(`group member ${this.options.id} is held by another session`, { cause: err });
      }
    }
    this.created = true;
  }

  private ownPath(): string {
    return `${this.options.path}/${this.options.id}`;
  }

  private publish(view: GroupView): void {
    const same =
      view.joined === this.view.joined &&
      view.members.length === this.view.members.length &&
      view.members.every((m, i) => m === this.view.members[i]);
    if (same) return;
    this.view = view;
    this.listeners.emit(view);
  }
}
