import { type NoiseComponents, noise } from '@chainsafe/libp2p-noise';
import type {
  ConnectionEncrypter,
  SecurableStream,
  SecureConnectionOptions,
  SecuredConnection,
} from '@libp2p/interface';
import { lpStream } from 'it-length-prefixed-stream';
import type { Clock } from '../common/clock.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { RefusalLog } from './callers.js';
import { decodeFrame, encodeFrame } from './codec.js';
import { admitInbound, gateHelloSchema, gateVerdictSchema, type MemberDirectory } from './gate.js';

const GATE_FRAME_BYTES = 1024;

export interface GateInit {
  readonly directory: MemberDirectory;
  readonly clock: Clock;
  readonly log: Logger;
  /** Shown to every member we dial while joining; absent once this node is a member. */
  joinToken(): string | undefined;
}

/**
 * Noise, then the cluster gate: after the handshake proves who the remote is, and before the connection is
 * handed to libp2p (so before identify, gossip, the DHT or any of our handlers run), the dialer shows a hello
 * with its join token if it has one, and the listener admits it or closes the connection with a reason.
 */
class GatedEncrypter implements ConnectionEncrypter {
  readonly protocol = '/corral/noise-gate/1';
  private readonly refusals: RefusalLog;

  constructor(
    private readonly noise: ConnectionEncrypter,
    private readonly init: GateInit,
  ) {
    this.refusals = new RefusalLog(
      init.log,
      () => init.clock.monotonicMs(),
      'refused a connection at the gate',
    );
  }

  async secureOutbound<Stream extends SecurableStream>(
    connection: Stream,
    options?: SecureConnectionOptions,
  ): Promise<SecuredConnection<Stream>> {
    const secured = await this.noise.secureOutbound(connection, options);
    const lp = lpStream(secured.conn, { maxDataLength: GATE_FRAME_BYTES });
    const token = this.init.joinToken();
    await lp.write(encodeFrame(token === undefined ? { v: 1 } : { v: 1, token }, GATE_FRAME_BYTES), options);
    const verdict = decodeFrame((await lp.read(options)).subarray(), gateVerdictSchema, GATE_FRAME_BYTES);
    if (!verdict.ok) {
      throw new CorralError('not_member', `${secured.remotePeer} refused us: ${verdict.reason}`);
    }
    return { ...secured, conn: lp.unwrap() };
  }

  async secureInbound<Stream extends SecurableStream>(
    connection: Stream,
    options?: SecureConnectionOptions,
  ): Promise<SecuredConnection<Stream>> {
    const secured = await this.noise.secureInbound(connection, options);
    const peer = asNodeId(secured.remotePeer.toString());
    const lp = lpStream(secured.conn, { maxDataLength: GATE_FRAME_BYTES });
    try {
      const hello = decodeFrame((await lp.read(options)).subarray(), gateHelloSchema, GATE_FRAME_BYTES);
      const admission = admitInbound(this.init.directory, peer, hello, this.init.clock.wallMs());
      if (admission.as === 'joiner') this.init.log.info({ peer }, 'admitted a joining node by its token');
    } catch (error) {
      const refusal = asCorralError(error, 'bad_frame');
      this.refusals.note(peer, this.protocol, refusal);
      await lp
        .write(
          encodeFrame({ ok: false, code: refusal.code, reason: refusal.message }, GATE_FRAME_BYTES),
          options,
        )
        .catch(() => undefined);
      throw refusal;
    }
    await lp.write(encodeFrame({ ok: true }, GATE_FRAME_BYTES), options);
    return { ...secured, conn: lp.unwrap() };
  }
}

export function gatedNoise(init: GateInit): (components: NoiseComponents) => ConnectionEncrypter {
  const makeNoise = noise();
  return (components) => new GatedEncrypter(makeNoise(components), init);
}
