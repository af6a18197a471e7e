declare const brand: unique symbol;

/** A nominal type: a T that only the named constructor functions produce. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A node's identity: its libp2p peer ID in its string form. */
export type NodeId = Brand<string, 'NodeId'>;

export function asNodeId(value: string): NodeId {
  return value as NodeId;
}
