// Typed where it is used: see the RawModule interface in src/coordination/zookeeper/library.ts.
declare module 'node-zookeeper-client' {
  const library: unknown;
  export default library;
}
