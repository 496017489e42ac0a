// Canonical text of IP address bytes, shared by the layers that print addresses (routing's prefixes in WireGuard
// allowed-ips, the DNS zone's AAAA and PTR data), so one address has one spelling everywhere. Pure.

/** RFC 5952 text of 16 IPv6 bytes: lower case, no leading zeros, the longest run of two or more zero groups as
 * "::" (the first one on a tie). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}
