// DNS numbers used by the mesh DNS server (RFC 1035, 2782, 3596, 6891): record types, classes, header flags and
// response codes, with the names metrics and tests print. One table, so the parser, the encoder and the metrics
// agree on spelling.

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const
export type RRTypeName = keyof typeof RRType

export const CLASS_IN = 1
export const CLASS_ANY = 255

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended RCODE 16 (RFC 6891): upper 8 bits travel in the OPT record's TTL field. */
  BADVERS: 16,
} as const
export type RcodeName = keyof typeof Rcode

// Header flag bits (RFC 1035 4.1.1, RFC 4035 for AD/CD), as they sit in the 16-bit flags word.
export const FLAG_QR = 0x8000
export const FLAG_AA = 0x0400
export const FLAG_TC = 0x0200
export const FLAG_RD = 0x0100
export const FLAG_CD = 0x0010
export const OPCODE_MASK = 0x7800
export const OPCODE_QUERY = 0

/** Header size; everything before the question. */
export const HEADER_LEN = 12
/** RFC 1035 2.3.4: a name is at most 255 octets in wire form; a label at most 63. */
export const MAX_NAME_WIRE = 255
export const MAX_LABEL = 63
/** Largest DNS message a 2-byte TCP length prefix can carry. */
export const MAX_MESSAGE = 65535
/** UDP payload without EDNS (RFC 1035 4.2.1) and the floor for an EDNS advertisement (RFC 6891 6.2.5). */
export const UDP_MIN_PAYLOAD = 512
/** What we advertise and the most we send over UDP: the DNS Flag Day 2020 size, safe from IP fragmentation. */
export const UDP_MAX_PAYLOAD = 1232
/** Bytes of an OPT record with no options: root name, type, class, ttl, rdlength. */
export const OPT_RR_LEN = 11

const TYPE_NAMES = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]))

/** Type label for metrics: known types by name, everything else folded into OTHER to bound cardinality. */
export function typeLabel(type: number): string {
  return TYPE_NAMES.get(type) ?? 'OTHER'
}

const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]))

export function rcodeLabel(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`
}
