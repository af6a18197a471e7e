import { connectQmp, type QmpClient } from './qmp.js';

/**
 * One QMP connection per instance, shared by the operations in flight and closed when the last one ends.
 * QEMU serves one client per QMP socket: a second connection waits unanswered until the first closes. So
 * the operations of one hypervisor share a connection (a status() answers while a migration is being
 * polled), and nobody keeps it open while idle (a restarted daemon, or another hypervisor object on the
 * same run dir, can connect at once).
 */

export interface QmpSessions {
  with<T>(socketPath: string, use: (qmp: QmpClient) => Promise<T>): Promise<T>;
}

interface Session {
  readonly client: Promise<QmpClient>;
  users: number;
}

export function createQmpSessions(connectTimeoutMs: number): QmpSessions {
  const sessions = new Map<string, Session>();

  function forget(path: string, session: Session): void {
    if (sessions.get(path) === session) sessions.delete(path);
  }

  function acquire(path: string): Session {
    const existing = sessions.get(path);
    if (existing !== undefined) return existing;
    const session: Session = { client: connectQmp(path, { timeoutMs: connectTimeoutMs }), users: 0 };
    sessions.set(path, session);
    // A connection that fails or that QEMU closes is dropped, so that the next operation connects anew.
    session.client.then(
      (client) => client.closed.then(() => forget(path, session)),
      () => forget(path, session),
    );
    return session;
  }

  return {
    async with(path, use) {
      const session = acquire(path);
      session.users += 1;
      try {
        return await use(await session.client);
      } finally {
        session.users -= 1;
        if (session.users === 0) {
          forget(path, session);
          session.client.then(
            (client) => client.close(),
            () => {},
          );
        }
      }
    },
  };
}
