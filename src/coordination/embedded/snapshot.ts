/**
 * Snapshots: the whole committed tree as of one zxid, written to a temp file, fsynced and renamed
 * into place (the store is single-threaded, so unlike ZooKeeper's they are exact, not fuzzy).
 *
 * Format: magic `ZKSN`, u32 version, i64 zxid, u32 session count + i64 ids, u32 node count + for
 * each node (parents first) path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion,
 * aversion, ephemeralOwner, ACL (u32 count + i32 perms, scheme, id each); then a u32 crc32 of
 * everything before it. Version 1 snapshots, from before ACLs, have no ACL: their znodes are open
 * (but for `/zookeeper/config`, read-only as ZooKeeper creates it).
 */
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { Acl } from '../store.js';
import { BinaryReader, BinaryWriter } from './codec.js';
import { DataTree, initialAcl, newZNode } from './datatree.js';
import { readAcl, writeAcl } from './txn.js';

const MAGIC = 0x5a4b534e;
const VERSION = 2;
const VERSION_WITHOUT_ACLS = 1;

/** Bytes a node takes besides its path and data: two length prefixes, five i64, three i32, one i64. */
const NODE_FIXED_BYTES = 4 + 4 + 5 * 8 + 3 * 4 + 8;

/**
 * Serializes synchronously, so the image is the tree at this instant while writes go on. The
 * exact size is computed first: one allocation, no growth copies, the checksum written in place
 * (at 100k znodes of 1 KiB, 110 MB, this took the blocking time from about 0.9 s to about 0.4 s).
 */
export function serializeSnapshot(tree: DataTree): Buffer {
  let size = 4 + 4 + 8 + 4 + 8 * tree.sessions.size + 4;
  // Most znodes share one ACL array (the open one): measure each array once.
  const aclBytes = new Map<readonly Acl[], number>();
  for (const [path, node] of tree.nodes) {
    let acl = aclBytes.get(node.acl);
    if (acl === undefined) aclBytes.set(node.acl, (acl = exactAclSize(node.acl)));
    size += Buffer.byteLength(path) + node.data.length + NODE_FIXED_BYTES + acl;
  }
  const w = new BinaryWriter(size + 4);
  w.u32(MAGIC).u32(VERSION).i64(tree.lastZxid);
  w.u32(tree.sessions.size);
  for (const sessionId of tree.sessions) w.i64(sessionId);
  w.u32(tree.nodes.size);
  for (const [path, node] of tree.nodes) {
    w.string(path).bytes(node.data);
    w.i64(node.czxid).i64(node.mzxid).i64(node.pzxid).time(node.ctime).time(node.mtime);
    w.i32(node.version).i32(node.cversion).i32(node.aversion).i64(node.ephemeralOwner);
    writeAcl(w, node.acl);
  }
  const body = w.finish();
  return w.u32(crc32(body)).finish();
}

/** Throws when the file is damaged or not a snapshot. */
export async function readSnapshot(path: string): Promise<DataTree> {
  const image = await readFile(path);
  const bodyLength = image.length - 4;
  if (bodyLength < 0 || crc32(image.subarray(0, bodyLength)) !== image.readUInt32BE(bodyLength)) {
    throw new Error(`snapshot ${path} fails its checksum`);
  }
  const r = new BinaryReader(image.subarray(0, bodyLength));
  const version = r.u32() === MAGIC ? r.u32() : undefined;
  if (version !== VERSION && version !== VERSION_WITHOUT_ACLS) {
    throw new Error(`${path} is not a version ${VERSION_WITHOUT_ACLS} or ${VERSION} snapshot`);
  }
  const tree = new DataTree();
  tree.lastZxid = r.i64();
  for (let n = r.u32(); n > 0; n--) tree.sessions.add(r.i64());
  for (let n = r.u32(); n > 0; n--) {
    const nodePath = r.string();
    tree.insert(
      nodePath,
      newZNode({
        data: r.bytes(),
        czxid: r.i64(),
        mzxid: r.i64(),
        pzxid: r.i64(),
        ctime: r.time(),
        mtime: r.time(),
        version: r.i32(),
        cversion: r.i32(),
        aversion: r.i32(),
        ephemeralOwner: r.i64(),
        acl: version === VERSION_WITHOUT_ACLS ? initialAcl(nodePath) : readAcl(r),
      }),
    );
  }
  if (!r.done) throw new Error(`snapshot ${path} has trailing bytes`);
  return tree;
}

function exactAclSize(acl: readonly Acl[]): number {
  return acl.reduce((sum, { scheme, id }) => sum + 12 + Buffer.byteLength(scheme) + Buffer.byteLength(id), 4);
}
