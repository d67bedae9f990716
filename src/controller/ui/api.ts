/**
 * The console's only way to the gateway: the public HTTP API, with the signed-in token as a
 * bearer header. A 401 anywhere ends the session (the page returns to sign-in); every other
 * failure is an {@link ApiError} carrying the problem document's stable `code`.
 */
import { signal } from '@preact/signals';

const TOKEN_KEY = 'zkgate.token';

/** The bearer secret, kept for this tab only (sessionStorage), or null when signed out. */
export const token = signal<string | null>(sessionStorage.getItem(TOKEN_KEY));
/** Why the last session ended, shown on the sign-in screen. */
export const signedOutReason = signal<string | null>(null);

export function signIn(secret: string): void {
  sessionStorage.setItem(TOKEN_KEY, secret);
  signedOutReason.value = null;
  token.value = secret;
}

export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(TOKEN_KEY);
  signedOutReason.value = reason;
  token.value = null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export interface Answer<T> {
  readonly data: T;
  readonly headers: Headers;
  /** Served from the gateway's cache while ZooKeeper is unreachable. */
  readonly stale: boolean;
}

export interface Call {
  readonly method?: string;
  /** A string is sent as is (documents); anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Answer with the body as text, not parsed JSON. */
  readonly text?: boolean;
  readonly signal?: AbortSignal;
}

export function authorization(): Record<string, string> {
  return token.value === null ? {} : { authorization: `Bearer ${token.value}` };
}

export async function api<T>(path: string, call: Call = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...authorization(), ...call.headers };
  let body: string | undefined;
  if (typeof call.body === 'string') body = call.body;
  else if (call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers['content-type'] = 'application/json';
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method: call.method ?? 'GET',
      headers,
      body,
      signal: call.signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (call.signal?.aborted) throw err;
    throw new ApiError(0, 'NETWORK', 'the gateway cannot be reached');
  }
  if (response.status === 401) {
    signOut('Your session ended: the token was refused (revoked, expired or unknown).');
    throw new ApiError(401, 'ZKG_UNAUTHENTICATED', 'signed out');
  }
  if (!response.ok) {
    const text = await response.text();
    let problem: Record<string, unknown> = {};
    try {
      problem = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not a problem document (a proxy's page): the status says enough.
    }
    const detail =
      typeof problem.detail === 'string' ? problem.detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, String(problem.code ?? `HTTP_${response.status}`), detail);
  }
  const text = await response.text();
  const data = (call.text ? text : text === '' ? undefined : JSON.parse(text)) as T;
  return { data, headers: response.headers, stale: response.headers.get('x-zkgate-stale') === 'true' };
}

/** `prod/payments` -> `prod/payments`, each segment escaped (segments are URL-safe already). */
export const nsPath = (namespace: string): string =>
  `/v1/config/${namespace.split('/').map(encodeURIComponent).join('/')}`;

export const query = (params: Record<string, string | undefined>): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
};
