/**
 * The image's Dockerfile through dockerfile-utils' linter (every check it has, as errors), and
 * the properties the deployment relies on: multi-stage, non-root, a health check on /healthz,
 * signals reaching node directly, and a build context that holds what the build copies.
 */
import { readFileSync } from 'node:fs';
import { ValidationSeverity, validate, type ValidatorSettings } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { ROOT } from './deploy-files.js';

const DOCKERFILE = readFileSync(`${ROOT}docker/Dockerfile`, 'utf8');
const ERROR = ValidationSeverity.ERROR;
const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ERROR,
  directiveCasing: ERROR,
  emptyContinuationLine: ERROR,
  instructionCasing: ERROR,
  instructionCmdMultiple: ERROR,
  instructionEntrypointMultiple: ERROR,
  instructionHealthcheckMultiple: ERROR,
  instructionJSONInSingleQuotes: ERROR,
  instructionWorkdirRelative: ERROR,
};

/** Instructions with their arguments, continuation lines joined, comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

describe('docker/Dockerfile', () => {
  it('passes the linter', () => {
    expect(validate(DOCKERFILE, STRICT).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('would fail the linter if it were broken', () => {
    const broken = `${DOCKERFILE}\nworkdir app\nEXPOSE http\nHEALTHCHECK CMD ['true']\n`;
    expect(validate(broken, STRICT).length).toBeGreaterThanOrEqual(3);
  });

  const steps = instructions(DOCKERFILE);
  const stages = steps.flatMap((s, i) => (s.keyword === 'FROM' ? [i] : []));
  const runtime = steps.slice(stages.at(-1));

  it('builds in one stage and runs from a slim base with production dependencies only', () => {
    expect(stages).toHaveLength(2);
    expect(runtime[0]?.args).toMatch(/^node:\$\{NODE_VERSION\}-slim$/);
    expect(steps.some((s) => s.keyword === 'RUN' && /npm prune --omit=dev/.test(s.args))).toBe(true);
    expect(runtime.filter((s) => s.keyword === 'COPY').every((s) => s.args.startsWith('--from=build'))).toBe(
      true,
    );
  });

  it('runs as the unprivileged node user, health-checked on /healthz, node receiving SIGTERM itself', () => {
    const last = (keyword: string): string | undefined =>
      runtime.filter((s) => s.keyword === keyword).at(-1)?.args;
    expect(last('USER')).toBe('node');
    expect(last('HEALTHCHECK')).toMatch(/CMD \["node", .*\/healthz/);
    expect(last('ENTRYPOINT')).toBe('["node", "dist/src/server.js"]');
    expect(last('STOPSIGNAL')).toBe('SIGTERM');
  });

  it('copies only what .dockerignore lets into the build context', () => {
    const allowed = readFileSync(`${ROOT}.dockerignore`, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    const copied = steps
      .slice(0, stages[1])
      .filter((s) => s.keyword === 'COPY')
      .flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(0);
    for (const source of copied) expect(allowed, source).toContain(source);
  });
});
