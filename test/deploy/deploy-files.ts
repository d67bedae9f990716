/**
 * The deployment files as the tests read them: the ensemble's zoo.cfg (the one source of its
 * settings), and the chart rendered the way `helm template` renders it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { renderTemplate, type GoValue, type LiveObject } from './helm-render.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_DIR = `${ROOT}helm/zkgate/`;
export const ZOO_CFG_PATH = `${ROOT}docker/zookeeper/zoo.cfg`;

/** A zoo.cfg split into its settings (in file order) and its `server.N` lines. */
export interface ZooCfg {
  settings: Record<string, string>;
  servers: Map<number, string>;
}

/** Parses zoo.cfg the way ZooKeeper does (Java properties: `#` comments, `key=value`). */
export function parseZooCfg(text: string): ZooCfg {
  const settings: Record<string, string> = {};
  const servers = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not a zoo.cfg setting: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const server = /^server\.(\d+)$/.exec(key);
    if (server) servers.set(Number(server[1]), value);
    else if (key in settings) throw new Error(`zoo.cfg sets ${key} twice`);
    else settings[key] = value;
  }
  return { settings, servers };
}

export function readSourceZooCfg(): ZooCfg {
  return parseZooCfg(readFileSync(ZOO_CFG_PATH, 'utf8'));
}

export type Values = { [key: string]: GoValue };

export function defaultValues(): Values {
  return parse(readFileSync(`${CHART_DIR}values.yaml`, 'utf8')) as Values;
}

/** A deep copy of `base` with `patch` merged in, the way `helm --set`/`-f` overrides merge. */
export function withValues(base: Values, patch: Values): Values {
  const out: Values = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] =
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current &&
      typeof current === 'object'
        ? withValues(current as Values, value as Values)
        : value;
  }
  return out;
}

export const RELEASE = { Name: 'zkgate', Namespace: 'zkgate-system', Service: 'Helm' };

/** One rendered Kubernetes object and the template it came from. */
export interface RenderedObject {
  template: string;
  object: { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
}

/** NOTES.txt is printed after an install or upgrade, not applied. */
export const NOTES = 'NOTES.txt';

function templateData(values: Values): Record<string, GoValue> {
  const chart = parse(readFileSync(`${CHART_DIR}Chart.yaml`, 'utf8')) as Record<string, string>;
  return {
    Values: values,
    Release: RELEASE,
    Chart: {
      Name: chart['name'] ?? '',
      Version: chart['version'] ?? '',
      AppVersion: chart['appVersion'] ?? '',
    },
  };
}

/**
 * Renders every template like `helm template --namespace zkgate-system zkgate helm/zkgate`, or,
 * given the objects of an installed release, like `helm upgrade` does against that cluster
 * (`lookup` finds them).
 */
export function renderChart(values: Values = defaultValues(), cluster: LiveObject[] = []): RenderedObject[] {
  const data = templateData(values);
  const objects: RenderedObject[] = [];
  for (const file of readdirSync(`${CHART_DIR}templates`).sort()) {
    if (file === NOTES) continue;
    const text = renderTemplate(readFileSync(`${CHART_DIR}templates/${file}`, 'utf8'), data, cluster);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as RenderedObject['object'] | null;
      if (object !== null) objects.push({ template: file, object });
    }
  }
  return objects;
}

/** What Helm prints after installing the chart with `values`. */
export function renderNotes(values: Values = defaultValues()): string {
  return renderTemplate(readFileSync(`${CHART_DIR}templates/${NOTES}`, 'utf8'), templateData(values));
}

/** The rendered object of `kind` named `name`; throws when there is none. */
export function find(objects: RenderedObject[], kind: string, name: string): RenderedObject['object'] {
  const found = objects.find((o) => o.object.kind === kind && o.object.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} among ${objects.map((o) => o.object.metadata.name).join(', ')}`);
  return found.object;
}
