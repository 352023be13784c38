/** Command-line options of the benchmark runners. */

/** An integer flag value in [min, max]; anything else stops the run with the flag's name. */
export function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got "${value}"`);
  return n;
}
