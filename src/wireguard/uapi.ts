// WgControl over wireguard-go's UAPI socket (/var/run/wireguard/NAME.sock), the text protocol `wg` itself speaks
// to it (wireguard.com/xplatform): `get=1` answers key=value lines, `set=1` takes them; both end with errno=N.
// Talking to the socket ourselves saves starting a `wg` process for every read and change (a join does several,
// each costing milliseconds of CPU on a Pi) and needs no temporary key file: the key never leaves the process
// but for the socket, which only root can open.
//
// A get is rendered as the dump `wg show NAME dump` would print from the same answer and read by the one
// validating parser (dump.ts), so both controls agree on what the live state is.

import { createConnection } from 'node:net'
import type { WgControl } from './control.js'
import type { WgPlan } from './diff.js'
import { type LiveInterface, parseDump } from './dump.js'
import { WireGuardError } from './errors.js'
import { publicKeyOf } from './keys.js'

const ZERO_KEY = '0'.repeat(64)

function hexKey(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex')
}

function base64Key(hex: string, field: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new WireGuardError(
      'WG_DUMP_INVALID',
      `wireguard-go UAPI get: ${field} '${hex.slice(0, 70)}' is not a hex key`,
    )
  return Buffer.from(hex, 'hex').toString('base64')
}

/** The `set=1` request for a plan: the same changes, in the same order, as the `wg set` of wgSetArgs. */
export function uapiSetRequest(plan: WgPlan): string {
  const lines = ['set=1']
  if (plan.privateKey !== undefined) lines.push(`private_key=${hexKey(plan.privateKey)}`)
  if (plan.listenPort !== undefined) lines.push(`listen_port=${plan.listenPort}`)
  for (const p of plan.peers) {
    lines.push(`public_key=${hexKey(p.publicKey)}`)
    if (p.remove === true) {
      lines.push('remove=true')
      continue
    }
    // An all-zero key is how the protocol removes a preshared key.
    if (p.presharedKey !== undefined)
      lines.push(`preshared_key=${p.presharedKey === null ? ZERO_KEY : hexKey(p.presharedKey)}`)
    if (p.endpoint !== undefined) lines.push(`endpoint=${p.endpoint}`)
    if (p.persistentKeepalive !== undefined)
      lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`)
    if (p.allowedIps !== undefined) {
      lines.push('replace_allowed_ips=true')
      for (const ip of p.allowedIps) lines.push(`allowed_ip=${ip}`)
    }
  }
  return `${lines.join('\n')}\n\n`
}

/** The errno of an answer ('errno=N' as its last line); a missing one is an error of its own. */
function errnoOf(answer: string, op: string): number {
  const m = /(?:^|\n)errno=(-?[0-9]+)\n*$/.exec(answer)
  if (m === null) throw new WireGuardError('WG_APPLY_FAILED', `wireguard-go UAPI ${op}: answer without errno`)
  return Number(m[1])
}

/** Reads a `get=1` answer into the live state; WG_DUMP_INVALID on anything it cannot vouch for. */
export function parseUapiGet(answer: string): LiveInterface {
  const errno = errnoOf(answer, 'get')
  if (errno !== 0) throw new WireGuardError('WG_APPLY_FAILED', `wireguard-go UAPI get: errno ${errno}`)
  let privateKey = '(none)'
  let listenPort = '0'
  let fwmark = 'off'
  type Peer = {
    key: string
    psk: string
    endpoint: string
    ips: string[]
    hs: string
    rx: string
    tx: string
    ka: string
  }
  const peers: Peer[] = []
  let peer: Peer | undefined
  for (const line of answer.split('\n')) {
    if (line === '' || line.startsWith('errno=')) continue
    const eq = line.indexOf('=')
    if (eq <= 0)
      throw new WireGuardError('WG_DUMP_INVALID', `wireguard-go UAPI get: line '${line.slice(0, 70)}'`)
    const k = line.slice(0, eq)
    const v = line.slice(eq + 1)
    if (k === 'public_key') {
      peer = {
        key: base64Key(v, k),
        psk: '(none)',
        endpoint: '(none)',
        ips: [],
        hs: '0',
        rx: '0',
        tx: '0',
        ka: 'off',
      }
      peers.push(peer)
      continue
    }
    if (peer === undefined) {
      if (k === 'private_key') privateKey = v === ZERO_KEY ? '(none)' : base64Key(v, k)
      else if (k === 'listen_port') listenPort = v
      else if (k === 'fwmark') fwmark = v === '0' ? 'off' : v
      continue
    }
    if (k === 'preshared_key') peer.psk = v === ZERO_KEY ? '(none)' : base64Key(v, k)
    else if (k === 'endpoint') peer.endpoint = v
    else if (k === 'allowed_ip') peer.ips.push(v)
    else if (k === 'last_handshake_time_sec') peer.hs = v
    else if (k === 'rx_bytes') peer.rx = v
    else if (k === 'tx_bytes') peer.tx = v
    else if (k === 'persistent_keepalive_interval') peer.ka = v === '0' ? 'off' : v
  }
  const publicKey = privateKey === '(none)' ? '(none)' : publicKeyOf(privateKey)
  const dump = [
    [privateKey, publicKey, listenPort, fwmark].join('\t'),
    ...peers.map((p) =>
      [p.key, p.psk, p.endpoint, p.ips.length > 0 ? p.ips.join(',') : '(none)', p.hs, p.rx, p.tx, p.ka].join(
        '\t',
      ),
    ),
  ]
  return parseDump(`${dump.join('\n')}\n`)
}

/** WgControl over the UAPI socket of each interface (`socketPath(name)`). */
export class UapiControl implements WgControl {
  constructor(
    private readonly socketPath: (name: string) => string,
    private readonly timeoutMs = 5_000,
  ) {}

  async show(name: string): Promise<LiveInterface> {
    return parseUapiGet(await this.request(name, 'get=1\n\n', 'get'))
  }

  async set(name: string, plan: WgPlan): Promise<void> {
    const errno = errnoOf(await this.request(name, uapiSetRequest(plan), 'set'), 'set')
    if (errno !== 0)
      throw new WireGuardError('WG_APPLY_FAILED', `wireguard-go UAPI set on ${name}: errno ${errno}`)
  }

  /** One request on a fresh connection; the answer ends with its errno line and a blank line. */
  private request(name: string, text: string, op: string): Promise<string> {
    const path = this.socketPath(name)
    return new Promise((resolve, reject) => {
      const sock = createConnection({ path })
      const chunks: Buffer[] = []
      let done = false
      const finish = (err: Error | null, answer = ''): void => {
        if (done) return
        done = true
        sock.destroy()
        if (err === null) resolve(answer)
        else
          reject(
            new WireGuardError('WG_APPLY_FAILED', `wireguard-go UAPI ${op} on ${path}: ${err.message}`, {
              cause: err,
            }),
          )
      }
      sock.setTimeout(this.timeoutMs, () => finish(new Error(`no answer after ${this.timeoutMs} ms`)))
      sock.on('error', (err) => finish(err))
      sock.on('data', (d) => {
        chunks.push(d)
        const answer = Buffer.concat(chunks).toString('utf8')
        if (/(?:^|\n)errno=-?[0-9]+\n\n$/.test(answer)) finish(null, answer)
      })
      sock.on('end', () => finish(new Error('connection closed before the answer ended')))
      sock.write(text)
    })
  }
}
