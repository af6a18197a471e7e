import { defaultConfig } from '@chainsafe/libp2p-yamux/config';
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import type { Logger } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';
import { describe, expect, it } from 'vitest';
import { sendWindowUpdatesAtHalf } from '../../src/peer/yamux-window-updates.js';

/** The frame header yamux hands to its sendFrame callback. */
interface SentFrame {
  readonly type: number;
  readonly flag: number;
  readonly length: number;
}

const silent: Logger = Object.assign(() => undefined, {
  error: () => undefined,
  trace: () => undefined,
  enabled: false,
  newScope: () => silent,
});

/** An established stream whose frames are recorded, and a way to deliver data frames of a given size to it. */
function establishedStream() {
  const sent: SentFrame[] = [];
  const stream = new YamuxStream({
    id: '1',
    name: '1',
    direction: 'inbound',
    log: silent,
    state: StreamState.Established,
    config: { ...defaultConfig, maxStreamWindowSize: defaultConfig.initialStreamWindowSize },
    sendFrame: (header) => sent.push(header),
    getRTT: () => -1,
  });
  const deliver = (bytes: number) =>
    stream.handleData({ type: 0, flag: 0, streamID: 1, length: bytes }, async () => {
      return new Uint8ArrayList(new Uint8Array(bytes));
    });
  return { stream, sent, deliver };
}

describe('yamux window updates', () => {
  sendWindowUpdatesAtHalf();
  const window = defaultConfig.initialStreamWindowSize;

  it('sends none while less than half the receive window has been read, then one for all that was read', async () => {
    const { stream, sent, deliver } = establishedStream();
    const reader = stream.source[Symbol.asyncIterator]();
    const messages = Math.floor(window / 2 / 1000);
    for (let i = 0; i < messages; i++) {
      await deliver(1000);
      await reader.next();
    }
    expect(sent).toEqual([]);
    await deliver(1000);
    await reader.next();
    expect(sent).toEqual([{ type: 1, flag: 0, streamID: 1, length: (messages + 1) * 1000 }]);
  });

  it('still lets a sender that filled the window go on once half of it is read', async () => {
    const { stream, sent, deliver } = establishedStream();
    const reader = stream.source[Symbol.asyncIterator]();
    await deliver(window);
    await reader.next();
    expect(sent).toEqual([{ type: 1, flag: 0, streamID: 1, length: window }]);
  });
});
