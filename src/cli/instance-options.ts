import type { UnusedOption } from './unused-options.js';

/**
 * Ganeti's gnt-instance and gnt-backup options that Corral has no use for, with the reason (see
 * unused-options.ts): what the thing is in Ganeti, and why Corral has none.
 */

const noHelperVm =
  "Corral runs OS scripts on the node itself, with no helper VM (Ganeti's install image) to time out";
const noSecretParams =
  "a job's opcodes are kept in its record, replicated to every master candidate's disk and shown by job info: Corral cannot pass a parameter without storing it; give it to the OS some other way";
const fileDirs =
  "Corral keeps each instance's disk files in <storage dir>/<instance UUID>/ on its nodes (by UUID, so a rename moves nothing): the directory cannot be chosen per instance";

const fileStorageDir: UnusedOption = {
  name: 'file-storage-dir',
  takesValue: true,
  reason: fileDirs,
  accepts: [],
  refusal: fileDirs,
};
const fileDriver: UnusedOption = {
  name: 'file-driver',
  takesValue: true,
  reason:
    "the hypervisor opens Corral's disk files itself, as Ganeti's loop driver does: only loop is accepted",
  accepts: ['loop'],
  refusal: 'Corral has no blktap drivers (Xen only); its disk files are opened as with loop',
};
const osParamsSecret: UnusedOption = {
  name: 'os-parameters-secret',
  takesValue: true,
  reason: noSecretParams,
  accepts: [],
  refusal: noSecretParams,
};
const communication: UnusedOption = {
  name: 'communication',
  alias: 'c',
  takesValue: true,
  reason: 'Corral has no instance communication network (no metadata daemon): only no is accepted',
  accepts: ['no', 'false'],
  refusal: 'Corral has no instance communication network (no metadata daemon) to connect the instance to',
};
const helperTimeouts: UnusedOption[] = ['helper-startup-timeout', 'helper-shutdown-timeout'].map((name) => ({
  name,
  takesValue: true,
  reason: noHelperVm,
  accepts: [],
  refusal: noHelperVm,
}));
const noReservations =
  'Corral reserves no resources for instances that do not exist yet: create the instance when it is needed';

/** instance add's (and backup import's). */
export const instanceAddUnused: readonly UnusedOption[] = [
  fileStorageDir,
  fileDriver,
  osParamsSecret,
  communication,
  ...helperTimeouts,
  {
    name: 'opportunistic-locking',
    takesValue: false,
    reason: "Corral takes all of a job's locks at once before it runs",
    accepts: [],
    refusal:
      "Corral takes all of a job's locks at once before it runs, so the allocator cannot pass over busy nodes: drop it (the job waits for them)",
  },
];

/** instance add's alone (backup import has neither). */
export const instanceAddOnlyUnused: readonly UnusedOption[] = [
  { name: 'forthcoming', takesValue: false, reason: noReservations, accepts: [], refusal: noReservations },
  { name: 'commit', takesValue: false, reason: noReservations, accepts: [], refusal: noReservations },
];

/** instance modify's. */
export const instanceModifyUnused: readonly UnusedOption[] = [
  fileStorageDir,
  fileDriver,
  communication,
  {
    name: 'ext-params',
    alias: 'e',
    takesValue: true,
    reason: "Corral has no ext disk template (Ganeti's ExtStorage providers)",
    accepts: [],
    refusal: "Corral has no ext disk template (Ganeti's ExtStorage providers) whose parameters to change",
  },
];

/** instance reinstall's. */
export const reinstallUnused: readonly UnusedOption[] = [osParamsSecret];

const noZeroing =
  "Corral has no zeroing helper VM (Ganeti's --zeroing-image) to zero the instance's free space with";

/** backup export's. */
export const exportUnused: readonly UnusedOption[] = [
  { name: 'zero-free-space', takesValue: false, reason: noZeroing, accepts: [], refusal: noZeroing },
  ...['zeroing-timeout-fixed', 'zeroing-timeout-per-mib'].map((name) => ({
    name,
    takesValue: true,
    reason: noZeroing,
    accepts: [],
    refusal: noZeroing,
  })),
];
