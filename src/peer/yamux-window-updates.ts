import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/** The fields of a yamux stream's receive window that the library keeps private. */
interface ReceiveWindow {
  readonly state: StreamState;
  readonly recvWindow: number;
  readonly recvWindowCapacity: number;
}

let applied = false;

/**
 * @chainsafe/libp2p-yamux (7.x and 8.x) sends a window update after every data frame a stream reads, so each
 * message costs two frames, two encryptions and two socket writes each way; in an idle cluster that was half
 * of all the frames. The yamux spec leaves the timing to the receiver, and hashicorp/yamux (the reference)
 * waits until half the window is used: this does the same. The updates that open or accept a stream still go
 * at once, and a sender that filled the window still gets its update as soon as half of it has been read.
 * Applied once per process, before any connection is made.
 */
export function sendWindowUpdatesAtHalf(): void {
  if (applied) return;
  applied = true;
  const prototype = YamuxStream.prototype;
  const sendWindowUpdate = prototype.sendWindowUpdate;
  prototype.sendWindowUpdate = function (this: YamuxStream) {
    const window = this as unknown as ReceiveWindow;
    const opening = window.state === StreamState.Init || window.state === StreamState.SYNReceived;
    if (!opening && window.recvWindowCapacity * 2 > window.recvWindow) return;
    sendWindowUpdate.call(this);
  };
}
