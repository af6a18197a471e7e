import { z } from 'zod';
import { bytesSchema } from '../peer/codec.js';
import { requestProtocol } from '../peer/protocol.js';

/**
 * gnt-cluster command and copyfile: a shell command run as root on a node, or a file written there. Ganeti
 * does both over root SSH between nodes; Corral over this member-only protocol, which its daemons serve on
 * behalf of a member's local root (the control socket is root's alone). Any member may call it, as any Ganeti
 * node holds root SSH access to the others.
 */

/** The longest command line taken. */
export const NODE_COMMAND_MAX_CHARS = 64 * 1024;
/** A command's output (stdout and stderr together) beyond this is cut, with a marker. */
export const NODE_COMMAND_OUTPUT_BYTES = 1024 * 1024;
/** A command still running after this long is killed, with whatever it started. */
export const NODE_COMMAND_TIMEOUT_MS = 3_600_000;
/** The largest file copyfile sends: one frame, under the transport's cap of 4 MiB. */
export const COPY_FILE_MAX_BYTES = 3 * 1024 * 1024;

/** An absolute path, normalized: no `.` or `..` parts, no doubled or trailing slash. */
export const absolutePath = z
  .string()
  .max(4096)
  .regex(/^(\/[^/\0]+)+$/, 'an absolute path')
  .refine((path) => !path.split('/').some((part) => part === '.' || part === '..'), 'a path without . or ..');

export const nodeCommandProtocol = requestProtocol({
  name: 'node-command',
  major: 1,
  callers: 'member',
  request: z.discriminatedUnion('action', [
    z.object({ action: z.literal('run'), command: z.string().min(1).max(NODE_COMMAND_MAX_CHARS) }),
    z.object({
      action: z.literal('write-file'),
      path: absolutePath,
      mode: z.number().int().min(0).max(0o7777),
      data: bytesSchema.refine((data) => data.byteLength <= COPY_FILE_MAX_BYTES, 'a file of at most 3 MiB'),
    }),
  ]),
  /** For `run`: how the command ended and what it printed; for `write-file`, nothing. */
  response: z.object({
    exitCode: z.number().int().optional(),
    signal: z.string().max(32).optional(),
    timedOut: z.boolean().optional(),
    output: z
      .string()
      .max(NODE_COMMAND_OUTPUT_BYTES + 1024)
      .optional(),
  }),
  timeoutMs: NODE_COMMAND_TIMEOUT_MS + 60_000,
  maxFrameBytes: 4 * 1024 * 1024,
});

export type NodeCommandResult = z.infer<typeof nodeCommandProtocol.response>;
