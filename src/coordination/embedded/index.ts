/**
 * The `embedded` coordination adapter: ZooKeeper's semantics in process, persisted like ZooKeeper
 * (transaction log + snapshots), for running zkgate without a ZooKeeper ensemble.
 */
export { EmbeddedServer, type EmbeddedServerOptions, type EmbeddedStats } from './server.js';
export { EmbeddedSession } from './session.js';
