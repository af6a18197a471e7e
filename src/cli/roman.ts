/**
 * Ganeti's --roman (compat.TryToRoman): a whole number from 1 to 4999 in roman numerals, as Python's roman
 * module writes them; anything else (0, fractions, larger numbers) as it is.
 */
const NUMERALS: readonly (readonly [number, string])[] = [
  [1000, 'M'],
  [900, 'CM'],
  [500, 'D'],
  [400, 'CD'],
  [100, 'C'],
  [90, 'XC'],
  [50, 'L'],
  [40, 'XL'],
  [10, 'X'],
  [9, 'IX'],
  [5, 'V'],
  [4, 'IV'],
  [1, 'I'],
];

export function tryToRoman(value: number): string {
  if (!Number.isInteger(value) || value < 1 || value > 4999) return String(value);
  let rest = value;
  let out = '';
  for (const [worth, numeral] of NUMERALS)
    while (rest >= worth) {
      out += numeral;
      rest -= worth;
    }
  return out;
}
