// Typed errors of the DNS layer. Query decoding never throws: the parser returns a DnsDecodeError whose `reason`
// is also the `reason` label of blackroad_dns_malformed_total, so a log line, a metric and a test all name the same
// thing. Operational failures (binding a socket, telling the OS about the zone) are DnsError with a stable code.

import { DecodeError, type DecodeReason } from '../wire/index.js'

/** Why a packet was not a query we can answer; stable strings (metric labels, logs, tests). */
export type MalformedReason =
  /** Fewer than 12 bytes: no header, so nothing can be answered; the packet is dropped. */
  | 'short-header'
  /** A response (QR=1) sent to us. Dropped, never answered: answering responses lets two servers loop. */
  | 'qr-set'
  /** Opcode other than QUERY; answered NOTIMP (RFC 1035 4.1.1), the code for "kind of query not supported". */
  | 'opcode'
  /** QDCOUNT is not 1. */
  | 'qdcount'
  /** A name, question or record runs past the end of the packet. */
  | 'truncated'
  /** A label length byte of 0x40-0xBF: longer than 63 octets, or a reserved/extended label type. */
  | 'label-too-long'
  /** A name longer than 255 octets in wire form. */
  | 'name-too-long'
  /** A compression pointer that does not point strictly backwards (the way loops are made). */
  | 'compression-loop'
  /** A compression pointer beyond the end of the packet. */
  | 'bad-pointer'
  /** More than one OPT record, an OPT not owned by the root, or options that do not fill its RDATA exactly. */
  | 'bad-edns'
  /** QTYPE OPT: a pseudo-type that can only appear in the additional section (RFC 6891 6.1.1). */
  | 'bad-qtype'
  /** Bytes after the last record the counts announce. */
  | 'trailing-bytes'

export const MALFORMED_REASONS: readonly MalformedReason[] = [
  'short-header',
  'qr-set',
  'opcode',
  'qdcount',
  'truncated',
  'label-too-long',
  'name-too-long',
  'compression-loop',
  'bad-pointer',
  'bad-edns',
  'bad-qtype',
  'trailing-bytes',
]

/**
 * A packet that is not a well-formed query. `id` and `flags` are set when the 12-byte header could be read, so the
 * server can answer FORMERR (or NOTIMP) with the client's ID; null means the packet is dropped.
 */
export class DnsDecodeError extends DecodeError {
  constructor(
    readonly dnsReason: MalformedReason,
    message: string,
    readonly header: { id: number; flags: number } | null,
    offset?: number,
  ) {
    super(wireReason(dnsReason), message, offset)
  }
}

function wireReason(r: MalformedReason): DecodeReason {
  if (r === 'truncated' || r === 'short-header') return 'truncated'
  if (r === 'trailing-bytes') return 'trailing-bytes'
  return 'invalid-value'
}

export type DnsErrorCode =
  /** A listen address could not be bound (in use, not local, no permission for port 53). */
  | 'DNS_BIND_FAILED'
  /** A listen or upstream address in the configuration is not "address:port". */
  | 'DNS_BAD_ADDRESS'
  /** The OS resolver (systemd-resolved) refused the per-link settings. */
  | 'DNS_OS_CONFIG_FAILED'

export class DnsError extends Error {
  override readonly name = 'DnsError'

  constructor(
    readonly code: DnsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
