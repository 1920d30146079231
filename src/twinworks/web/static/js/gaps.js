// Data gaps. The history API gives raw timestamps and leaves empty buckets out, so a
// connector outage is simply a stretch without samples. A line must break there:
// drawn straight across, a gap would look like a steady value that was never measured.
//
// Rule: break between two samples that are further apart than
//   max(GAP_FACTOR × the series' typical interval, MIN_GAP_S),
// the typical interval being the median spacing of its samples (for buckets: the
// bucket width); and break after any sample the page knows was followed by an outage
// (the twin went stale or disconnected while the page was open).

export const GAP_FACTOR = 5;
export const MIN_GAP_S = 2;

/** Median spacing of increasing times (seconds); null with fewer than two samples. */
export function typicalInterval(times) {
  const steps = [];
  for (let i = 1; i < times.length; i++) {
    const dt = times[i] - times[i - 1];
    if (dt > 0) steps.push(dt);
  }
  if (steps.length === 0) return null;
  steps.sort((a, b) => a - b);
  const mid = steps.length >> 1;
  return steps.length % 2 ? steps[mid] : (steps[mid - 1] + steps[mid]) / 2;
}

/** The spacing beyond which two neighbouring samples are a gap (Infinity: never). */
export function gapThreshold(interval, { factor = GAP_FACTOR, minGapS = MIN_GAP_S } = {}) {
  if (interval === null || interval === undefined) return Infinity;
  return Math.max(factor * interval, minGapS);
}

/**
 * Gaps of one series: [[from, to], ...] between neighbouring samples, from the
 * threshold and from explicit breaks (times after which data is known to have stopped).
 */
export function findGaps(times, threshold, breaks = []) {
  const gaps = [];
  let b = 0;
  const sortedBreaks = [...breaks].sort((x, y) => x - y);
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1];
    const z = times[i];
    while (b < sortedBreaks.length && sortedBreaks[b] < a) b++;
    const known = b < sortedBreaks.length && sortedBreaks[b] >= a && sortedBreaks[b] < z;
    if (z - a > threshold || known) gaps.push([a, z]);
  }
  return gaps;
}
