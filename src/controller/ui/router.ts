/** Hash routes (`#/config/prod/payments:history`): the page is one static file, served as is. */
import { signal } from '@preact/signals';

export const route = signal(location.hash || '#/config');
addEventListener('hashchange', () => (route.value = location.hash || '#/config'));

export function navigate(hash: string): void {
  location.hash = hash;
}

/** `#/config/a/b:history` -> `['config', 'a/b:history']`. */
export function parts(hash: string): [string, string | undefined] {
  const path = hash.replace(/^#\/?/, '');
  const slash = path.indexOf('/');
  return slash < 0 ? [path, undefined] : [path.slice(0, slash), decodeURIComponent(path.slice(slash + 1))];
}
