import { passwordMatches, RAPI_REALM, type RapiUsers, type UserOption } from './users.js';

/**
 * Who may call a method of a resource: anyone, or a user holding one of these options. Ganeti lists both
 * options where either will do, so `write` implies `read` only where the list says so.
 */
export type Access = 'anonymous' | readonly UserOption[];

export type AccessDecision =
  | { readonly allowed: true; readonly user?: string }
  | { readonly allowed: false; readonly status: 401 | 403 };

/** Ganeti's challenge on a 401. */
export const AUTHENTICATE_HEADER = `Basic realm="${RAPI_REALM}"`;

/**
 * Ganeti's rule: a method that needs no option, called without credentials, is served anonymously unless
 * authentication is required; otherwise Basic credentials must match a user (401), who must hold one of the
 * options the method lists (403). A Digest header counts as no credentials.
 */
export function decideAccess(
  access: Access,
  authorization: string | undefined,
  users: RapiUsers,
  requireAuthentication: boolean,
): AccessDecision {
  if (access === 'anonymous' && authorization === undefined && !requireAuthentication)
    return { allowed: true };
  const credentials = basicCredentials(authorization);
  const user = credentials === undefined ? undefined : users.get(credentials.name);
  if (credentials === undefined || user === undefined || !passwordMatches(user, credentials.password))
    return { allowed: false, status: 401 };
  if (access !== 'anonymous' && !access.some((option) => user.options.has(option)))
    return { allowed: false, status: 403 };
  return { allowed: true, user: user.name };
}

function basicCredentials(header: string | undefined): { name: string; password: string } | undefined {
  const match = header === undefined ? null : /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
