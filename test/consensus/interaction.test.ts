import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { asNodeId } from '../../src/common/ids.js';
import type { Entry, Message } from '../../src/consensus/types.js';
import { checkTrace } from '../helpers/datadriven.js';
import { Group } from './harness.js';

/**
 * Protocol traces in the manner of etcd's interaction tests: each file in testdata/ is a run of blocks, a
 * command, a `----` line and the exact output expected. `REWRITE=1 npx vitest run test/consensus` rewrites
 * the expected output from what the code does now (read the diff before committing it).
 */
const dataDir = join(import.meta.dirname, 'testdata');
const decoder = new TextDecoder();

function formatEntry(entry: Entry): string {
  const body =
    entry.type === 'normal'
      ? JSON.stringify(decoder.decode(entry.data))
      : `${entry.change.type} ${entry.change.node}`;
  return `${entry.index}/${entry.term} ${body}`;
}

function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'preVoteResp':
    case 'voteResp':
      return `${head} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} commit=${m.commit} [${m.entries.map(formatEntry).join(', ')}]`;
    case 'appendResp':
      return m.reject
        ? `${head} reject index=${m.index} hint=${m.hintIndex}/${m.hintTerm}`
        : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} readSeq=${m.readSeq}`;
    case 'heartbeatResp':
      return `${head} readSeq=${m.readSeq}`;
    case 'snapshot':
      return `${head} snap=${m.meta.index}/${m.meta.term} bytes=${m.offsetBytes}+${m.chunk.byteLength}/${m.totalBytes}`;
    case 'snapshotResp':
      return `${head} snap=${m.snapshotIndex} received=${m.receivedBytes}`;
    case 'timeoutNow':
      return head;
    case 'readIndex':
      return `${head} request=${m.requestId}`;
    case 'readIndexResp':
      return `${head} request=${m.requestId} index=${m.index ?? 'none'}`;
  }
}

class Interpreter {
  private group: Group | undefined;

  run(line: string): string[] {
    const [command, ...args] = line.trim().split(/\s+/);
    const g = (): Group => {
      if (this.group === undefined) throw new Error('no group: start with "group n1 n2 ..."');
      return this.group;
    };
    const out: string[] = [];
    switch (command) {
      case 'group':
        this.group = new Group(args);
        break;
      case 'campaign':
        g().campaign(args[0]!);
        break;
      case 'propose':
        out.push(JSON.stringify(g().propose(args[0]!, args.slice(1).join(' '))));
        break;
      case 'tick':
        g().tick(args[0]!, Number(args[1] ?? 1));
        break;
      case 'isolate':
        g().isolate(args[0]!);
        break;
      case 'heal':
        g().heal();
        break;
      case 'disconnect':
        // `disconnect n2 n1`: n2's transport reports its connection to n1 closed.
        g().node(args[0]!).leaderConnectionLost(asNodeId(args[1]!));
        g().process(args[0]!);
        break;
      case 'drop':
        out.push(`dropped ${g().queue.length}`);
        g().queue = [];
        break;
      case 'transfer':
        g().node(args[0]!).transferLeadership(asNodeId(args[1]!));
        g().process(args[0]!);
        break;
      case 'read':
        g().node(args[0]!).readIndex(Number(args[1]));
        g().process(args[0]!);
        break;
      case 'stabilize':
        for (let round = 0; g().queue.length > 0; round++) {
          if (round > 200) throw new Error('did not settle');
          for (const m of g().queue) out.push(formatMessage(m));
          g().deliverOnce();
        }
        break;
      case 'status':
        for (const id of args) {
          const s = g().node(id).status();
          const member = g().member(id);
          out.push(
            `${id}: ${s.role} term=${s.term} leader=${s.leader ?? '-'} commit=${s.commit} applied=${JSON.stringify(member.applied)}` +
              (member.readStates.length > 0 ? ` reads=${JSON.stringify(member.readStates)}` : '') +
              (member.failedReads.length > 0 ? ` failedReads=${JSON.stringify(member.failedReads)}` : ''),
          );
        }
        break;
      default:
        throw new Error(`unknown command ${command}`);
    }
    return out.length > 0 ? out : ['ok'];
  }
}

describe('interaction traces', () => {
  for (const file of readdirSync(dataDir).filter((name) => name.endsWith('.txt'))) {
    it(file, async () => {
      const interpreter = new Interpreter();
      await checkTrace(join(dataDir, file), async (command) => interpreter.run(command));
    });
  }
});
