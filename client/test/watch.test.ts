/**
 * The watch stream's protocol handling against a scripted SSE server, so each case happens on cue
 * (a replica dying mid-stream, repeats at a resume, an event type this client does not know): list
 * replacement, upserts, removals, repeats after a resume, unknown event types, `reset`, the
 * `Last-Event-ID` of the reconnection, and the stream's end on `close()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { within } from '../../test/support/within.js';
import { createClient, type Instance, type ZkgateClient } from '../src/index.js';

const instance = (id: string): Instance => ({
  service: 'svc',
  id,
  address: '127.0.0.1',
  port: 9000,
  weight: 100,
  status: 'UP',
  healthy: true,
  liveness: 'lease',
  metadata: {},
  index: '1',
});

const sse = (event: string, id: number | undefined, data: unknown): string =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

let server: Server | undefined;
let client: ZkgateClient | undefined;

afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

it('replaces, upserts and removes instances, drops repeats and unknown events, resumes from the last id', async () => {
  const resumes: Array<string | undefined> = [];
  const scripts: Array<(res: ServerResponse) => void> = [
    (res) => {
      res.write(sse('instances', 10, { service: 'svc', index: '10', instances: [instance('a')] }));
      res.write(sse('future-thing', 10, { whatever: true }));
      res.write(sse('instance', 11, { service: 'svc', index: '11', instance: instance('b') }));
      res.write(sse('instance', 11, { service: 'svc', index: '11', instance: instance('b') }));
      // Then the replica dies mid-stream (once the events are on the wire).
      res.write(sse('instance-removed', 12, { service: 'svc', index: '12', id: 'a' }), () => res.destroy());
    },
    (res) => {
      // A resume repeats the whole list at the index already held: nothing changes.
      res.write(sse('instances', 12, { service: 'svc', index: '12', instances: [instance('b')] }));
      res.write(sse('instance', 13, { service: 'svc', index: '13', instance: instance('c') }));
      res.write(sse('reset', 14, { namespaces: [] }));
    },
  ];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/v1/services/svc/instances') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-zkgate-index': '5' }).end('[]');
    } else if (url.pathname === '/v1/config/cfg/x') {
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'x-zkgate-version': '1',
          'x-zkgate-index': '3',
        })
        .end('{"on":true}');
    } else if (url.pathname === '/v1/watch') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      // Only a stream carrying both subscriptions gets the script; earlier ones idle until replaced.
      if (url.searchParams.getAll('service').includes('svc')) {
        resumes.push(req.headers['last-event-id'] as string | undefined);
        scripts.shift()?.(res);
      }
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let draws = 0;
  client = createClient({ url, token: 't', watch: { random: () => (draws++, 0) } });
  const config = await client.config('cfg/x');
  const deleted = new Promise((resolve) => config.on('deleted', resolve));
  const view = await client.discover('svc');
  const lists: string[][] = [];
  const done = new Promise<void>((resolve) =>
    view.on('change', (list) => {
      lists.push(list.map((i) => i.id));
      if (list.some((i) => i.id === 'c')) resolve();
    }),
  );
  await within(done, 'the scripted events');
  await within(deleted, 'the reset to delete cfg/x');

  expect(lists).toEqual([['a'], ['a', 'b'], ['b'], ['b', 'c']]);
  // The first stream resumes from the lower of the two first reads (3), the second from the last id.
  expect(resumes).toEqual(['3', '12']);
  // One full-jitter draw for the one unplanned reconnection.
  expect(draws).toBe(1);
  expect(config.value).toEqual({ on: true });
});

it('close() ends the stream', async () => {
  let opened: () => void = () => {};
  let ended: () => void = () => {};
  const open = new Promise<void>((resolve) => (opened = resolve));
  const gone = new Promise<void>((resolve) => (ended = resolve));
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url!.startsWith('/v1/watch')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      res.on('close', ended);
      opened();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-zkgate-version': '1', 'x-zkgate-index': '3' })
      .end('{"on":true}');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  client = createClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' });
  await client.config('cfg/x');
  await within(open, 'the stream to open');
  await client.close();
  await within(gone, 'the gateway to see the stream end');
});
