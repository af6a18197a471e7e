/** Kept equal to package.json's version by a test. */
export const CORRAL_VERSION = '0.1.0';
