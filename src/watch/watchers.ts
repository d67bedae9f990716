/**
 * Who is watching what on this replica: the live `GET /v1/watch` streams, each as the namespaces
 * and prefixes it named, so the config listing can say how many streams would receive a change to
 * each namespace. Per replica: each gateway counts its own streams (a client behind a load
 * balancer is counted where its stream landed), and the figure says so in the API document.
 */
/** Whether a stream that named `names` and `prefixes` receives changes to `namespace`. */
export function covers(names: ReadonlySet<string>, prefixes: readonly string[], namespace: string): boolean {
  return names.has(namespace) || prefixes.some((p) => namespace.startsWith(p));
}

/** What a stream named: the namespaces and the prefixes it watches. */
export interface Watched {
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
}

export class WatcherCount {
  private readonly streams = new Set<Watched>();

  /** Counts a stream until it is deleted (when it closes). */
  add(stream: Watched): void {
    this.streams.add(stream);
  }

  delete(stream: Watched): void {
    this.streams.delete(stream);
  }

  /** Open streams that would receive a change to `namespace` (read permission aside). */
  of(namespace: string): number {
    let count = 0;
    for (const { names, prefixes } of this.streams) if (covers(names, prefixes, namespace)) count++;
    return count;
  }
}
