/**
 * A minimal Server-Sent Events client for tests: an HTTP GET whose body is parsed into events
 * as they arrive, awaitable one by one.
 */
import { request, type IncomingMessage } from 'node:http';

export interface ReceivedEvent {
  id?: string;
  event: string;
  data: string;
  /** Its size on the wire, the blank line that ends it included (UTF-8 bytes). */
  bytes: number;
}

export interface SseClient {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** Every event received so far. */
  readonly events: ReceivedEvent[];
  /** The next event not yet taken by `next` (rejects after `timeoutMs`). */
  next(timeoutMs?: number): Promise<ReceivedEvent>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: ReceivedEvent[] = [];
      const waiting: Array<(e: ReceivedEvent) => void> = [];
      let taken = 0;
      let buffer = '';
      let endResolve: () => void = () => undefined;
      const ended = new Promise<void>((r) => (endResolve = r));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let split: number;
        while ((split = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const event: ReceivedEvent = { event: 'message', data: '', bytes: Buffer.byteLength(block) + 2 };
          const data: string[] = [];
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') {
              data.push(value);
              hasData = true;
            } else if (field === 'id') event.id = value;
            else if (field === 'event') event.event = value;
          }
          if (!hasData) continue;
          event.data = data.join('\n');
          events.push(event);
          const waiter = waiting.shift();
          if (waiter) {
            taken++;
            waiter(event);
          }
        }
      });
      res.on('close', () => endResolve());
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        ended,
        next(timeoutMs = 5_000) {
          if (taken < events.length) return Promise.resolve(events[taken++] as ReceivedEvent);
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`no SSE event within ${timeoutMs} ms`)), timeoutMs);
            waiting.push((e) => {
              clearTimeout(timer);
              ok(e);
            });
          });
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
