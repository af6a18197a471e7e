import { pushable } from 'it-pushable';
import type { ToPrimary, ToSecondary } from '../../../src/cluster/mirror-protocol.js';
import type { PrimaryLink } from '../../../src/storage/mirror/primary.js';
import type { SecondaryLink } from '../../../src/storage/mirror/secondary.js';

/**
 * Both ends of one in-process replication link; `cut()` breaks it as a lost connection would, and
 * `cutSilently()` as a cut network often does: the primary's side breaks, the secondary hears nothing.
 */
export function linkPair(): {
  primary: PrimaryLink;
  secondary: SecondaryLink;
  cut(): void;
  cutSilently(): void;
  framesSent: ToSecondary[];
} {
  const toSecondary = pushable<ToSecondary>({ objectMode: true });
  const toPrimary = pushable<ToPrimary>({ objectMode: true });
  const framesSent: ToSecondary[] = [];
  let broken = false;
  const cut = () => {
    if (broken) return;
    broken = true;
    toSecondary.end();
    toPrimary.end(new Error('link cut'));
  };
  const cutSilently = () => {
    if (broken) return;
    broken = true;
    toPrimary.end(new Error('link cut'));
  };
  return {
    framesSent,
    cut,
    cutSilently,
    primary: {
      send(frame) {
        if (broken) return;
        framesSent.push(frame);
        toSecondary.push(frame);
      },
      replies: toPrimary,
      close: cut,
    },
    secondary: {
      // Frames still queued when the link is cut are lost with it, as on a broken connection.
      frames: (async function* () {
        for await (const frame of toSecondary) {
          if (broken) return;
          yield frame;
        }
      })(),
      reply(frame) {
        if (!broken) toPrimary.push(frame);
      },
      end: () => toSecondary.end(),
    },
  };
}
