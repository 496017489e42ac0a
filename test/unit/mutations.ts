// Byte mutations for the decoders' property tests: 1..4 edits (flip a bit, set a byte, cut the tail, insert a
// byte, delete a byte) at arbitrary places of a valid encoding, so the fuzzing reaches every field behind
// a valid start.

import fc from 'fast-check'

export interface Mutation {
  at: number
  kind: 'flip' | 'set' | 'cut' | 'insert' | 'delete'
  value: number
}

export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(
  fc.record({
    at: fc.nat(),
    kind: fc.constantFrom(
      'flip' as const,
      'set' as const,
      'cut' as const,
      'insert' as const,
      'delete' as const,
    ),
    value: fc.nat({ max: 255 }),
  }),
  { minLength: 1, maxLength: 4 },
)

/** `bytes` with `muts` applied in order (may change `bytes` in place; use the result). */
export function mutate(bytes: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = bytes
  for (const m of muts) {
    const i = b.length === 0 ? 0 : m.at % b.length
    if (m.kind === 'flip') b[i]! ^= 1 << (m.value % 8)
    else if (m.kind === 'set') b[i] = m.value
    else if (m.kind === 'cut') b = b.subarray(0, i)
    else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, i), m.value, ...b.subarray(i)])
    else b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + 1)])
  }
  return b
}
