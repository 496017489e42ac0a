// Comparing byte ranges in place, for the hot paths that recognise a frame head they have seen before (the
// stream session's runs, the client's MSG heads, the lanes' DATA heads) without slicing or decoding.

/** Whether a[aStart, aStart + n) and b[bStart, bStart + n) hold the same bytes (false when either is short). */
export function bytesEqualAt(
  a: Uint8Array,
  aStart: number,
  b: Uint8Array,
  bStart: number,
  n: number,
): boolean {
  if (aStart < 0 || bStart < 0 || aStart + n > a.length || bStart + n > b.length) return false
  for (let i = 0; i < n; i++) if (a[aStart + i] !== b[bStart + i]) return false
  return true
}
