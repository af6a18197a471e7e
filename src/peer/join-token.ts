import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';

/**
 * A join token lets one named node into the cluster for a limited time: an HMAC over its peer ID and the
 * expiry, keyed with the cluster secret. Any member can check it; no member needs to have seen it before.
 */
const prefix = 'corral-join-v1';
export const CLUSTER_SECRET_BYTES = 32;
export const MAX_TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000;

export function newClusterSecret(): Uint8Array {
  return randomBytes(CLUSTER_SECRET_BYTES);
}

export function mintJoinToken(secret: Uint8Array, peer: NodeId, nowMs: number, lifetimeMs: number): string {
  if (!(lifetimeMs > 0 && lifetimeMs <= MAX_TOKEN_LIFETIME_MS)) {
    throw new CorralError(
      'bad_request',
      `token lifetime must be between 1 ms and ${MAX_TOKEN_LIFETIME_MS / 3_600_000} h`,
    );
  }
  const expiresSec = Math.ceil((nowMs + lifetimeMs) / 1000);
  return `${prefix}:${peer}:${expiresSec}:${mac(secret, peer, expiresSec)}`;
}

interface TokenParts {
  readonly peer: string;
  readonly expiresSec: number;
  readonly mac: string;
}

function parseJoinToken(token: string): TokenParts {
  const [tag, peer, expiresText, mac, ...rest] = token.split(':');
  if (tag !== prefix || !peer || !expiresText || !mac || rest.length > 0 || !/^\d{1,12}$/.test(expiresText)) {
    throw new CorralError(
      'bad_token',
      'malformed join token: ask a member for a new one with `corral token create`',
    );
  }
  return { peer, expiresSec: Number(expiresText), mac };
}

/**
 * What a token says without the secret to check it: the node it was issued for and when it expires. A joining
 * node reads it to refuse, before it dials anyone, a token meant for another node or already expired.
 */
export function readJoinToken(token: string): { readonly peer: string; readonly expiresMs: number } {
  const { peer, expiresSec } = parseJoinToken(token);
  return { peer, expiresMs: expiresSec * 1000 };
}

/** Throws a CorralError saying exactly why the token does not admit this peer now. */
export function verifyJoinToken(secret: Uint8Array, token: string, peer: NodeId, nowMs: number): void {
  const { peer: tokenPeer, expiresSec, mac: givenMac } = parseJoinToken(token);
  if (tokenPeer !== peer) {
    throw new CorralError('bad_token', `join token was issued for ${tokenPeer}, not for ${peer}`);
  }
  const expected = Buffer.from(mac(secret, peer, expiresSec), 'base64url');
  const given = Buffer.from(givenMac, 'base64url');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new CorralError('bad_token', 'join token was not issued by this cluster');
  }
  if (expiresSec * 1000 <= nowMs) {
    throw new CorralError('token_expired', 'join token has expired: ask a member for a new one');
  }
  if (expiresSec * 1000 - nowMs > MAX_TOKEN_LIFETIME_MS) {
    throw new CorralError('bad_token', 'join token lives longer than any token this cluster issues');
  }
}

function mac(secret: Uint8Array, peer: NodeId, expiresSec: number): string {
  return createHmac('sha256', secret).update(`${prefix}\n${peer}\n${expiresSec}`).digest('base64url');
}
