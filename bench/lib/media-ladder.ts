/**
 * The media ladder's session counts beyond the listed steps (issue 15: the
 * ladder goes on until the relays fail, so their ceilings are measured, not
 * bounded by the list) and the refining steps between an engine's last clean
 * and first failing count (so the 1-thread / K-thread ratio is finer than 2x).
 */

/** Doubles the largest listed count until the cap: [50..400], 1600 -> [800, 1600]. */
export function extendedSteps(listed: readonly number[], cap: number): number[] {
  const out: number[] = [];
  let n = Math.max(0, ...listed);
  if (n <= 0) return out;
  while (n * 2 <= cap) {
    n *= 2;
    out.push(n);
  }
  return out;
}

/**
 * The count halfway between the last clean and the first failing count,
 * rounded to 10 sessions; null when they are within 15% of each other (the
 * ceiling is known well enough for a ladder on a shared machine).
 */
export function refineMidpoint(lastClean: number, firstFailed: number): number | null {
  if (!(lastClean > 0) || !(firstFailed > lastClean) || firstFailed <= lastClean * 1.15) return null;
  const step = lastClean >= 100 ? 10 : 1;
  const mid = Math.round((lastClean + firstFailed) / 2 / step) * step;
  return mid > lastClean && mid < firstFailed ? mid : null;
}
