/**
 * Values as Haskell prints them, where htools' output differs from JavaScript's: printf's "%.Nf" rounds the
 * shortest decimal digits of the number half to even (0.125 gives 0.12, 0.001953125 gives 0.00195312) where
 * toFixed rounds the binary value up; `show` of a Double and of the policy records htools print.
 */
import type { DiskTemplate } from '../cluster/disk-templates.js';
import type { IPolicy, ISpec } from './types.js';

/** GHC's roundTo: digits rounded to `n` places, half to even; the carry says a digit was added in front. */
function roundTo(n: number, digits: readonly number[]): [number, number[]] {
  const f = (k: number, evenBefore: boolean, rest: readonly number[]): [number, number[]] => {
    const [x, ...xs] = rest;
    if (x === undefined) return [0, new Array<number>(k).fill(0)];
    if (k === 0) return [x === 5 && evenBefore && xs.every((d) => d === 0) ? 0 : x >= 5 ? 1 : 0, []];
    const [carry, tail] = f(k - 1, x % 2 === 0, xs);
    return x + carry === 10 ? [1, [0, ...tail]] : [0, [x + carry, ...tail]];
  };
  const [carry, out] = f(n, true, digits);
  return carry === 1 ? [1, [1, ...out]] : [0, out];
}

/** Haskell's printf "%.Nf" (Numeric.showFFloat with N decimals). */
export function showFFloat(x: number, decimals: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x < 0 || Object.is(x, -0)) return `-${showFFloat(-x, decimals)}`;
  const [mantissa = '0', exponent = '0'] = x.toExponential().split('e');
  const digits = [...mantissa.replace('.', '')].map(Number);
  const e = x === 0 ? 0 : Number(exponent) + 1;
  const withPoint = (ds: readonly number[], at: number): string => {
    const whole = ds.slice(0, at).join('') || '0';
    const fraction = ds.slice(at).join('');
    return fraction === '' ? whole : `${whole}.${fraction}`;
  };
  if (e >= 0) {
    const [carry, rounded] = roundTo(decimals + e, digits);
    return withPoint(rounded, e + carry);
  }
  const [carry, rounded] = roundTo(decimals, [...new Array<number>(-e).fill(0), ...digits]);
  return withPoint(carry > 0 ? rounded : [0, ...rounded], 1);
}

/** Haskell's printf "%f" of a Double, as htools writes CPU speeds: shortest digits, at least one decimal. */
export function fixedDouble(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/** Haskell's `show` of a Double: fixed from 0.1 to 10^7, else 1.0e-2 style. */
export function showDouble(x: number): string {
  const size = Math.abs(x);
  if (x === 0 || (size >= 0.1 && size < 1e7)) return fixedDouble(x);
  const [mantissa = '', exponent = ''] = x.toExponential().split('e');
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}e${exponent.replace('+', '')}`;
}

/** The constructors of Ganeti's DiskTemplate type, as `show` names them. */
const templateConstructors: Record<DiskTemplate, string> = {
  diskless: 'DTDiskless',
  file: 'DTFile',
  sharedfile: 'DTSharedFile',
  plain: 'DTPlain',
  blockdev: 'DTBlock',
  drbd: 'DTDrbd8',
  rbd: 'DTRbd',
  ext: 'DTExt',
  gluster: 'DTGluster',
};

function showSpec(s: ISpec): string {
  return `ISpec {iSpecMemorySize = ${s.memoryMiB}, iSpecCpuCount = ${s.cpuCount}, iSpecDiskSize = ${s.diskMiB}, iSpecDiskCount = ${s.diskCount}, iSpecNicCount = ${s.nicCount}, iSpecSpindleUse = ${s.spindleUse}}`;
}

/** An instance policy as Haskell's derived `show` of IPolicy prints it (hinfo -v -v, hail's messages). */
export function showPolicy(p: IPolicy): string {
  const minMax = p.minMax.map(
    (m) =>
      `MinMaxISpecs {minMaxISpecsMinSpec = ${showSpec(m.min)}, minMaxISpecsMaxSpec = ${showSpec(m.max)}}`,
  );
  return `IPolicy {iPolicyMinMaxISpecs = [${minMax.join(',')}], iPolicyStdSpec = ${showSpec(p.std)}, iPolicyDiskTemplates = [${p.diskTemplates.map((t) => templateConstructors[t]).join(',')}], iPolicyVcpuRatio = ${showDouble(p.vcpuRatio)}, iPolicySpindleRatio = ${showDouble(p.spindleRatio)}}`;
}
