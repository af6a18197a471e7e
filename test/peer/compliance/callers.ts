import { describe, expect, it } from 'vitest';
import { CorralError } from '../../../src/common/errors.js';
import type { NodeId } from '../../../src/common/ids.js';
import type { CallerCheck, Callers, Credentials } from '../../../src/peer/callers.js';
import {
  drain,
  echo,
  echoBack,
  failure,
  type Harness,
  looseEcho,
  masterEcho,
  news,
  note,
  outcome,
  type Pair,
  shout,
  type Trio,
} from './harness.js';

/** What the check was asked. */
interface Asked {
  readonly callers: Callers;
  readonly from: NodeId;
  readonly credentials: Credentials;
}

/** The master's call, in a form that sends any body: refused callers must be refused before it is read. */
const looseMasterEcho = { ...looseEcho, id: masterEcho.id, callers: 'master' } as const;

const CURRENT_TERM = 7;

/** Admits members; admits to master protocols only a caller showing the current term. */
function masterFence(asked: Asked[]): CallerCheck {
  return (callers, from, credentials) => {
    asked.push({ callers, from, credentials });
    if (callers === 'master' && credentials.term !== CURRENT_TERM)
      throw new CorralError('not_master', `term ${credentials.term} is not the current term ${CURRENT_TERM}`);
  };
}

/** Refuses every call from the nodes named once they are known. */
function refusing(refused: Set<NodeId>): CallerCheck {
  return (_callers, from) => {
    if (refused.has(from)) throw new CorralError('not_member', `${from} is not a member`);
  };
}

const REFUSED = 'refused a call outside its role';

export function callerTests(harness: Harness): void {
  const refusalsOf = (peer: NodeId) =>
    harness.lines.filter((line) => line.message === REFUSED && line.fields.peer === peer);

  describe('callers', () => {
    it('judges the caller before the handler runs and before the body is read; the refusal reaches the caller', async () => {
      const asked: Asked[] = [];
      const cluster = await harness.start(2, masterFence(asked));
      const [a, b] = cluster.nodes as Pair;
      let calls = 0;
      b.handle(masterEcho, async ({ text }, { from }) => {
        calls++;
        return { text, from };
      });
      const error = await failure(cluster, a.request(b.self, looseMasterEcho, { text: 42 }));
      expect([error.code, error.message]).toEqual(['not_master', 'term undefined is not the current term 7']);
      expect(calls).toBe(0);
      expect(asked).toEqual([{ callers: 'master', from: a.self, credentials: {} }]);
      expect(refusalsOf(a.self).map((line) => [line.fields.code, line.fields.protocol])).toEqual([
        ['not_master', masterEcho.id],
      ]);
    });

    it('hands the handler the credentials the caller showed', async () => {
      const asked: Asked[] = [];
      const cluster = await harness.start(2, masterFence(asked));
      const [a, b] = cluster.nodes as Pair;
      const shown: Credentials[] = [];
      b.handle(masterEcho, async ({ text }, { from, credentials }) => {
        shown.push(credentials);
        return { text, from };
      });
      const credentials = { term: CURRENT_TERM };
      const answer = await outcome(cluster, a.request(b.self, masterEcho, { text: 'hi' }, { credentials }));
      expect(answer.value).toEqual({ text: 'hi', from: a.self });
      expect(shown).toEqual([credentials]);
      expect(asked).toEqual([{ callers: 'master', from: a.self, credentials }]);
    });

    it('waits for a check that answers later, and takes its refusal the same way', async () => {
      const refused = new Set<NodeId>();
      const later: CallerCheck = async (callers, from, credentials) => {
        await Promise.resolve();
        return refusing(refused)(callers, from, credentials);
      };
      const cluster = await harness.start(3, later);
      const [a, b, c] = cluster.nodes as Trio;
      refused.add(c.self);
      echoBack(b);
      expect((await outcome(cluster, a.request(b.self, echo, { text: 'hi' }))).value?.from).toBe(a.self);
      expect((await failure(cluster, c.request(b.self, echo, { text: 'hi' }))).code).toBe('not_member');
    });

    it('refuses with not_member when the check throws something other than a CorralError', async () => {
      const cluster = await harness.start(2, () => {
        throw new Error('the member directory is not loaded yet');
      });
      const [a, b] = cluster.nodes as Pair;
      echoBack(b);
      const error = await failure(cluster, a.request(b.self, echo, { text: 'hi' }));
      expect([error.code, error.message]).toEqual(['not_member', 'the member directory is not loaded yet']);
    });

    it('judges the sender of every one-way message', async () => {
      const refused = new Set<NodeId>();
      const cluster = await harness.start(3, refusing(refused));
      const [a, b, c] = cluster.nodes as Trio;
      refused.add(c.self);
      const heard: NodeId[] = [];
      b.onMessage(note, (from) => heard.push(from));
      await cluster.until(() => {
        a.send(b.self, note, { seq: 1 });
        c.send(b.self, note, { seq: 1 });
        return (heard.length > 0 && refusalsOf(c.self).length > 0) || undefined;
      }, "a member's message to arrive and the other's to be refused");
      expect(new Set(heard)).toEqual(new Set([a.self]));
      expect(refusalsOf(c.self)[0]?.fields.protocol).toBe(note.id);
    });

    it('judges the opener of every stream: a refused one is closed before its handler sees it', async () => {
      const refused = new Set<NodeId>();
      const cluster = await harness.start(3, refusing(refused));
      const [a, b, c] = cluster.nodes as Trio;
      refused.add(c.self);
      const openers: NodeId[] = [];
      b.handleStream(shout, (stream, from) => {
        openers.push(from);
        stream.abort(new CorralError('closed', 'seen'));
      });
      const stream = (await outcome(cluster, c.openStream(b.self, shout))).value!;
      expect((await drain(cluster, stream.frames)).error?.code).toBe('closed');
      await outcome(cluster, a.openStream(b.self, shout));
      await cluster.until(() => openers[0], 'the member to reach the handler');
      expect(openers).toEqual([a.self]);
      expect(refusalsOf(c.self)[0]?.fields.protocol).toBe(shout.id);
    });

    it('judges the author of every publication', async () => {
      const refused = new Set<NodeId>();
      const cluster = await harness.start(3, refusing(refused));
      const [a, b, c] = cluster.nodes as Trio;
      refused.add(c.self);
      const authors: NodeId[] = [];
      b.subscribe(news, (from) => authors.push(from));
      await cluster.until(() => {
        for (const node of [a, c]) void node.publish(news, { headline: 'hi' }).catch(() => undefined);
        return (authors.length > 0 && refusalsOf(c.self).length > 0) || undefined;
      }, "a member's publication to arrive and the other's to be refused");
      expect(new Set(authors)).toEqual(new Set([a.self]));
      expect(refusalsOf(c.self)[0]?.fields.protocol).toBe(news.name);
    });

    it('logs refusals once per peer and reason, however often they come', async () => {
      const refused = new Set<NodeId>();
      const cluster = await harness.start(3, refusing(refused));
      const [a, b, c] = cluster.nodes as Trio;
      refused.add(a.self);
      refused.add(c.self);
      echoBack(b);
      for (const caller of [a, c, a, a, c, a]) {
        expect((await failure(cluster, caller.request(b.self, echo, { text: 'hi' }))).code).toBe(
          'not_member',
        );
      }
      expect([refusalsOf(a.self).length, refusalsOf(c.self).length]).toEqual([1, 1]);
    });
  });
}
