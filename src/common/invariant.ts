/**
 * A broken internal invariant: a bug in Corral, never something a user did or can fix (that is a
 * CorralError). The catch-alls that keep a node serving past a bad message or a failed job let it through,
 * so that the simulator stops at the first broken step instead of logging it and going on.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/**
 * Throws an InvariantError unless `holds`. `broken` names the invariant and the values that break it; it is
 * built only on failure, so checks on hot paths cost one comparison.
 */
export function invariant(holds: boolean, broken: () => string): asserts holds {
  if (!holds) throw new InvariantError(broken());
}
