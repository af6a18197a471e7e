import { MIRROR_GRANULE_BYTES, type ToPrimary, type ToSecondary } from '../../cluster/mirror-protocol.js';
import type { BlockStore } from './block-store.js';
import { granuleHashes } from './granule-hashes.js';

/** What the secondary keeps of its copy's state, so that a restarted node knows whether its copy is whole. */
export interface CopyState {
  readonly generation: number;
  /** False from the start of a resync until its end: the copy is a mix of old and new granules. */
  readonly consistent: boolean;
}

/** The secondary's end of one replication link: frames from the primary, and the answers going back. */
export interface SecondaryLink {
  readonly frames: AsyncIterable<ToSecondary>;
  reply(frame: ToPrimary): void;
  /** Breaks the link: its frames end. For a link a newer one replaces, whose stream may be dead but silent. */
  end(): void;
}

/**
 * The secondary side of one mirrored disk: applies what the primary sends, one frame at a time and in the
 * order sent, so that overlapping writes land in the primary's order, and answers each once it is done.
 */
export class MirrorSecondary {
  private serving: { stopped: boolean; done: Promise<void>; readonly link: SecondaryLink } | undefined;

  constructor(
    private readonly store: BlockStore,
    private readonly recordState: (state: CopyState) => Promise<void>,
  ) {}

  /**
   * Serves one link until it ends; a frame this copy cannot apply ends it with an error answer. A new link
   * stops the one before and waits for the frame it is applying: what the old link still carried was lost
   * for the primary, which resends it on the new one, and must not land after it.
   */
  async serve(link: SecondaryLink): Promise<void> {
    const previous = this.serving;
    if (previous !== undefined) {
      previous.stopped = true;
      // A primary dials again when its link broke, and a cut network may never tell this side: without
      // this, the old link would wait for a frame that never comes, and the new one behind it for ever.
      previous.link.end();
    }
    const serving = { stopped: false, done: Promise.resolve(), link };
    serving.done = (previous?.done ?? Promise.resolve()).then(() =>
      serving.stopped ? undefined : this.applyAll(link, serving),
    );
    this.serving = serving;
    await serving.done;
    if (this.serving === serving) this.serving = undefined;
  }

  /** Applies the link's frames in order until it ends, breaks, or a newer link takes over. */
  private async applyAll(link: SecondaryLink, serving: { readonly stopped: boolean }): Promise<void> {
    try {
      await this.applyFrames(link, serving);
    } catch {
      // A broken stream ends the link like a closed one; the primary counts what it did not answer as lost.
    }
  }

  private async applyFrames(link: SecondaryLink, serving: { readonly stopped: boolean }): Promise<void> {
    for await (const frame of link.frames) {
      if (serving.stopped) return;
      const refusal = this.refusal(frame);
      if (refusal !== undefined) {
        link.reply({ t: 'e', s: frame.s, m: refusal });
        return;
      }
      try {
        link.reply(await this.apply(frame));
      } catch (error) {
        link.reply({ t: 'e', s: frame.s, m: `the secondary copy failed: ${(error as Error).message}` });
        return;
      }
    }
  }

  private refusal(frame: ToSecondary): string | undefined {
    const range =
      frame.t === 'w'
        ? { o: frame.o, n: frame.d.byteLength }
        : frame.t === 'z' || frame.t === 'h'
          ? frame
          : undefined;
    if (range !== undefined && range.o + range.n > this.store.sizeBytes)
      return `range ${range.o}+${range.n} is past the end of this copy (${this.store.sizeBytes} bytes)`;
    return undefined;
  }

  private async apply(frame: ToSecondary): Promise<ToPrimary> {
    switch (frame.t) {
      case 'w':
        await (frame.fua ? this.store.writeDurably(frame.o, frame.d) : this.store.write(frame.o, frame.d));
        return { t: 'a', s: frame.s };
      case 'z':
        await this.store.writeZeroes(frame.o, frame.n);
        if (frame.fua) await this.store.flush();
        return { t: 'a', s: frame.s };
      case 'f':
        await this.store.flush();
        return { t: 'a', s: frame.s };
      case 'h':
        return {
          t: 'H',
          s: frame.s,
          h: granuleHashes(await this.store.read(frame.o, frame.n), MIRROR_GRANULE_BYTES),
        };
      case 'c':
        // The data first: a copy marked consistent must hold what made it so.
        await this.store.flush();
        await this.recordState({ generation: frame.g, consistent: frame.consistent });
        return { t: 'a', s: frame.s };
    }
  }
}
