/**
 * A loopback TCP proxy for fault injection, after the one etcd3's tests use: `suspend()` cuts
 * every connection and refuses new ones (a partition as the client sees it), `resume()` heals it.
 * `blackhole()` is the harder fault: a host that died or vanished without a word (power loss, a
 * killed VM or container, a cable pulled). Nothing is reset: open connections go silent, new ones
 * are accepted (as the sandbox's network does for any address) and never answered, so only the
 * client's own deadlines can notice. `latency` delays every chunk either way, like a slow link or
 * a server too loaded to answer promptly.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** `127.0.0.1:port` of the proxy. */
  readonly address: string;
  suspend(): void;
  /** Every byte in either direction is dropped from now on, on open and new connections alike; nothing is closed. */
  blackhole(): void;
  /** Forward again: ends a suspend, and closes the connections a black hole swallowed. */
  resume(): void;
  /** Delay every chunk forwarded from now on by `ms` in each direction (0: none). */
  latency(ms: number): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  let suspended = false;
  let delayMs = 0;
  let swallowing = false;
  const sockets = new Set<Socket>();
  /** Connections a black hole holds open without forwarding, to close on resume. */
  const swallowed = new Set<Socket>();
  /** The same, never forgotten: a swallowed socket's close must not reach its peer either. */
  const silenced = new WeakSet<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      swallowed.delete(socket);
    });
    socket.on('error', () => socket.destroy());
  };
  const swallow = (socket: Socket): void => {
    // Read and drop: a paused socket would fill its buffers and push back on the sender,
    // which a dead host does not do either.
    socket.removeAllListeners('data');
    socket.on('data', () => undefined);
    socket.resume();
    swallowed.add(socket);
    silenced.add(socket);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (suspended) {
      client.destroy();
      return;
    }
    if (swallowing) {
      swallow(client);
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    // Chunks of one direction keep their order: equal delays fire in the order they were set.
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (delayMs === 0) to.write(chunk);
        else setTimeout(() => to.writable && to.write(chunk), delayMs);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    // A black hole swallows silently: only a proxy that still forwards passes a close on, after
    // the data that came before it.
    const passClose = (from: Socket, to: Socket): void => {
      from.on('close', () => {
        if (silenced.has(from)) return;
        if (delayMs === 0) to.destroy();
        else setTimeout(() => to.destroy(), delayMs);
      });
    };
    passClose(client, upstream);
    passClose(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    suspend() {
      suspended = true;
      for (const socket of sockets) socket.destroy();
    },
    blackhole() {
      swallowing = true;
      for (const socket of sockets) swallow(socket);
    },
    latency(ms: number) {
      delayMs = ms;
    },
    resume() {
      suspended = false;
      swallowing = false;
      for (const socket of swallowed) socket.destroy();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
