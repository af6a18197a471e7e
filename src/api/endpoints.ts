import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { RapiCertificate } from '../cluster/rapi-certificate.js';
import { systemClock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import { everyInterval } from '../common/periodic.js';
import type { DaemonCall } from '../daemon/job-client.js';
import { createMonitoringServer } from './monitoring/server.js';
import { rapiContext } from './rapi/context.js';
import { createRapiServer } from './rapi/server.js';
import { UsersFile } from './rapi/users.js';

/** Ganeti's ports: RAPI on 5080, the monitoring daemon on 1815. */
export const DEFAULT_RAPI_PORT = 5080;
export const DEFAULT_MOND_PORT = 1815;

export interface EndpointOptions {
  readonly host: string;
  /** undefined: no RAPI. */
  readonly rapiPort?: number;
  /** Ganeti's --no-ssl: plain HTTP, for tests behind a trusted network. */
  readonly ssl: boolean;
  readonly usersFile: string;
  readonly requireAuthentication: boolean;
  /** undefined: no monitoring endpoint. */
  readonly mondPort?: number;
}

export interface EndpointNode {
  readonly call: DaemonCall;
  readonly log: Logger;
  rapiCertificate(): RapiCertificate | undefined;
  onConfigChange(listener: () => void): () => void;
}

/**
 * How often a node looks for a RAPI certificate besides when its configuration changes: a server that could
 * not listen (its port taken) is tried again this often.
 */
const CERTIFICATE_CHECK_MS = 2_000;

/** Where a node's RAPI users file is by default: Ganeti's /var/lib/ganeti/rapi/users, under the data dir. */
export function defaultUsersFile(dataDir: string): string {
  return join(dataDir, 'rapi', 'users');
}

/**
 * Serves RAPI and the monitoring endpoints for one node. Over HTTPS, RAPI starts once the replicated
 * configuration holds the cluster's certificate, and takes a renewed one without a restart.
 */
export async function startEndpoints(
  node: EndpointNode,
  options: EndpointOptions,
): Promise<{ stop(): Promise<void> }> {
  const servers: FastifyInstance[] = [];
  const log = node.log.child({ part: 'api' });
  if (options.mondPort !== undefined) {
    const mond = createMonitoringServer({ call: node.call, log });
    await mond.listen({ host: options.host, port: options.mondPort });
    servers.push(mond);
  }
  const watches: { stop(): void }[] = [];
  if (options.rapiPort !== undefined) {
    const port = options.rapiPort;
    const users = new UsersFile(options.usersFile);
    const build = (tls?: RapiCertificate) =>
      createRapiServer({
        context: rapiContext(node.call),
        users: () => users.current(),
        requireAuthentication: options.requireAuthentication,
        ...(tls !== undefined && { tls }),
        log,
      });
    if (!options.ssl) {
      const rapi = build();
      await rapi.listen({ host: options.host, port });
      servers.push(rapi);
    } else {
      let serving: { server: FastifyInstance; certificate: RapiCertificate } | undefined;
      const check = async () => {
        const certificate = node.rapiCertificate();
        if (certificate === undefined || certificate === serving?.certificate) return;
        if (serving === undefined) {
          const server = build(certificate);
          await server.listen({ host: options.host, port });
          servers.push(server);
          serving = { server, certificate };
          log.info({ host: options.host, port }, 'RAPI serving over HTTPS');
        } else {
          (serving.server.server as unknown as TlsServer).setSecureContext(certificate);
          serving = { ...serving, certificate };
          log.info({}, 'RAPI serving a renewed certificate');
        }
      };
      const failed = (error: unknown) => log.warn({ err: error }, 'RAPI could not start');
      // One check at a time: two configurations applied in a row must not both start a server.
      // `checking` never rejects, so a check that failed does not stop the later ones.
      let checking = Promise.resolve();
      const checkInTurn = () => {
        const next = checking.then(check);
        checking = next.catch(() => undefined);
        return next;
      };
      // Served as soon as the configuration that brings the certificate is applied here.
      const unsubscribe = node.onConfigChange(() => void checkInTurn().catch(failed));
      watches.push({ stop: unsubscribe });
      watches.push(everyInterval(systemClock, CERTIFICATE_CHECK_MS, checkInTurn, failed));
      await checkInTurn();
    }
  }
  return {
    async stop() {
      for (const watch of watches) watch.stop();
      await Promise.all(servers.map((server) => server.close()));
    },
  };
}
