/**
 * Where a process's CPU time went, from the V8 CPU profiles `node --cpu-prof` wrote: self time
 * grouped by who owns the code (zkgate's files, each npm package, Node's core, V8's garbage
 * collector, native code without a script) and the hottest functions. Idle time is left out of
 * every share.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function owner(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : 'native (V8 builtins, bindings)';
  if (url.startsWith('node:')) return 'Node core';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  const own = /\/dist\/(src\/.+)\.js$/.exec(url);
  return own ? `zkgate ${own[1]}` : url;
}

function selfTimes(profile: CpuProfile): Map<ProfileNode, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<ProfileNode, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node) self.set(node, (self.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return self;
}

const share = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1).padStart(5)}%`;

/** Prints, for every profile in `dir`, the owners of its busy time and its 15 hottest functions. */
export async function summarizeProfiles(dir: string): Promise<void> {
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const self = selfTimes(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile);
    const busy = [...self].filter(([node]) => node.callFrame.functionName !== '(idle)');
    const total = busy.reduce((sum, [, t]) => sum + t, 0);
    const owners = new Map<string, number>();
    const functions = new Map<string, number>();
    for (const [node, t] of busy) {
      const who = owner(node.callFrame);
      owners.set(who, (owners.get(who) ?? 0) + t);
      const name = `${node.callFrame.functionName || '(anonymous)'}  [${who}:${node.callFrame.lineNumber + 1}]`;
      functions.set(name, (functions.get(name) ?? 0) + t);
    }
    const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
    console.log(`CPU profile ${file}: ${(total / 1e6).toFixed(1)} s busy`);
    for (const [who, t] of top(owners, 12)) console.log(`  ${share(t, total)}  ${who}`);
    console.log('  hottest functions (self time):');
    for (const [name, t] of top(functions, 15)) console.log(`  ${share(t, total)}  ${name}`);
  }
}
