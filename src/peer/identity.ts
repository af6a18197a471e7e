import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';

export const IDENTITY_FILE = 'node.key';

export interface NodeIdentity {
  readonly nodeId: NodeId;
  readonly privateKey: PrivateKey;
}

/** Loads the node's Ed25519 key from the data dir, creating it (mode 0600) on first start. */
export async function loadOrCreateIdentity(dataDir: string): Promise<NodeIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CorralError('internal', `cannot read the node key ${path}: ${(error as Error).message}`);
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    privateKey = await generateKeyPair('Ed25519');
    // 'wx' so that two processes starting on one data dir cannot both write a key.
    await writeFile(path, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  }
  if (privateKey.type !== 'Ed25519') {
    throw new CorralError('internal', `the node key ${path} is ${privateKey.type}, not Ed25519`);
  }
  return { nodeId: asNodeId(peerIdFromPrivateKey(privateKey).toString()), privateKey };
}

/** Checks that text is a peer ID (as `corral identity` prints it) and returns it as a NodeId. */
export function parseNodeId(text: string): NodeId {
  try {
    return asNodeId(peerIdFromString(text).toString());
  } catch {
    throw new CorralError(
      'bad_request',
      `not a node ID: ${text} (expected a peer ID such as 12D3KooW…, as 'corral identity' prints)`,
    );
  }
}
