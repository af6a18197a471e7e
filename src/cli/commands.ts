import type { CommandModule } from 'yargs';

/** Every top-level command of `corral`; each family lives in its own module under commands/. */
export const commands: readonly CommandModule<object, never>[] = [];
