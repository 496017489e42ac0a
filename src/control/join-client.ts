// The joining (or renewing) node's side of the join channel. It trusts nothing the network says until the
// server has proven, inside this TLS 1.3 session, that it holds the key of a node certificate signed by the
// federation root whose fingerprint the join token pins (or, for renewal, the root this node already has).
// Only then is the token — a bearer secret — sent. Every failure is a JoinError with a stable code.

import tls from 'node:tls'
import {
  decodeCertificate,
  decodeJoinTokenUnverified,
  federationIdFromRootKey,
  fingerprint,
  type JoinTokenClaims,
  type KeyPair,
  type NodeCertificate,
  nodeIdFromPublicKey,
  TokenError,
  verifyCertificate,
} from '../identity/index.js'
import {
  frameJoinMessage,
  type JoinedPayload,
  JoinFrameReader,
  type JoinMessage,
  type RefusalCode,
} from './join-messages.js'
import { ed25519KeyOf, tlsIdentity } from './tls-identity.js'

export const DEFAULT_JOIN_PORT = 7443

export type JoinErrorCode =
  | RefusalCode
  | 'UNTRUSTED_CONTROL_PLANE'
  | 'UNREACHABLE'
  | 'CLUSTER_MISMATCH'
  | 'BAD_ENDPOINT'
  | 'BAD_REPLY'

export class JoinError extends Error {
  constructor(
    readonly code: JoinErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'JoinError'
  }
}

/** host:port from "host", "host:port", "[v6]:port" or a URL such as https://control.example:7443. */
export function parseEndpoint(s: string, defaultPort = DEFAULT_JOIN_PORT): { host: string; port: number } {
  let rest = s.trim()
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest)
  if (scheme) rest = rest.slice(scheme[0].length).replace(/\/.*$/, '')
  let host = rest
  let port = defaultPort
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest)
  if (v6) {
    host = v6[1]!
    if (v6[2]) port = Number(v6[2])
  } else if (/^[^:]+:\d+$/.test(rest)) {
    const i = rest.lastIndexOf(':')
    host = rest.slice(0, i)
    port = Number(rest.slice(i + 1))
  }
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535 || /[\s/]/.test(host)) {
    throw new JoinError('BAD_ENDPOINT', `control-plane endpoint ${JSON.stringify(s)} is not host:port`)
  }
  return { host, port }
}

interface Expectation {
  rootFingerprint: string
  federationId: string
  now: () => number
}

interface ExchangeOptions {
  endpoint: string
  nodeKey: KeyPair
  timeoutMs?: number
  now?: () => number
}

/** One request/reply on a fresh TLS connection, after checking the server against `expect`. */
function exchange(
  opts: ExchangeOptions,
  expect: Expectation,
  request: JoinMessage,
): Promise<{ reply: JoinMessage; root: Uint8Array }> {
  const { host, port } = parseEndpoint(opts.endpoint)
  const id = tlsIdentity(opts.nodeKey, nodeIdFromPublicKey(opts.nodeKey.publicKey))
  return new Promise((resolve, reject) => {
    let done = false
    let root: Uint8Array | null = null
    const finish = (err: JoinError | null, reply?: JoinMessage) => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve({ reply: reply!, root: root! })
    }
    const sock = tls.connect({
      host,
      port,
      ...id,
      minVersion: 'TLSv1.3',
      // The server's certificate is self-signed for its node key; we check that key against the root below.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
    })
    const timer = setTimeout(
      () =>
        finish(
          new JoinError(
            'UNREACHABLE',
            `no answer from control plane ${host}:${port} within ${opts.timeoutMs ?? 15_000} ms`,
          ),
        ),
      opts.timeoutMs ?? 15_000,
    )
    sock.on('error', (err) =>
      finish(new JoinError('UNREACHABLE', `control plane ${host}:${port}: ${err.message}`)),
    )
    sock.on('close', () =>
      finish(
        new JoinError('UNREACHABLE', `control plane ${host}:${port} closed the connection without answering`),
      ),
    )
    const frames = new JoinFrameReader()
    sock.on('data', (chunk: Buffer) => {
      let msgs: JoinMessage[]
      try {
        msgs = frames.push(chunk)
      } catch (err) {
        finish(
          new JoinError('BAD_REPLY', `undecodable message from control plane: ${(err as Error).message}`),
        )
        return
      }
      for (const m of msgs) {
        if (root === null) {
          if (m.type === 'refused') return finish(new JoinError(m.code, m.message))
          if (m.type !== 'hello') return finish(new JoinError('BAD_REPLY', `expected HELLO, got ${m.type}`))
          const problem = checkHello(m, ed25519KeyOf(sock.getPeerX509Certificate()), expect)
          if (problem) return finish(new JoinError('UNTRUSTED_CONTROL_PLANE', problem))
          root = m.rootPublicKey
          sock.write(frameJoinMessage(request))
          continue
        }
        return finish(null, m)
      }
    })
  })
}

/** Why this HELLO does not come from a control plane of the expected federation, or null. */
function checkHello(
  m: Extract<JoinMessage, { type: 'hello' }>,
  tlsKey: Buffer | null,
  expect: Expectation,
): string | null {
  const fp = fingerprint(m.rootPublicKey)
  if (fp !== expect.rootFingerprint) {
    return `control plane speaks for root key ${fp}, but the token pins ${expect.rootFingerprint}: refusing to send the token`
  }
  if (
    federationIdFromRootKey(m.rootPublicKey) !== expect.federationId ||
    m.federationId !== expect.federationId
  ) {
    return `control plane is of federation ${m.federationId}, expected ${expect.federationId}`
  }
  let cert: NodeCertificate
  try {
    cert = decodeCertificate(m.certificate)
    verifyCertificate(cert, {
      rootPublicKey: m.rootPublicKey,
      federationId: expect.federationId,
      now: expect.now(),
      clockSkewMs: 300_000,
    })
  } catch (err) {
    return `control plane's certificate is not valid: ${(err as Error).message}`
  }
  if (!tlsKey || !cert.publicKey.equals(tlsKey)) {
    return `control plane's TLS key is not the key of its certificate (${cert.nodeId})`
  }
  return null
}

export interface JoinRequestOptions extends ExchangeOptions {
  token: string
  clusterName: string
  clusterType?: 'primary' | 'secondary' | 'edge'
  name: string
  addresses?: string[]
}

export interface JoinResult extends JoinedPayload {
  claims: JoinTokenClaims
  rootPublicKey: Uint8Array
  cert: NodeCertificate
}

/** `federation join`: proves the token to the control plane and returns what the node needs to enter the mesh. */
export async function requestJoin(opts: JoinRequestOptions): Promise<JoinResult> {
  let claims: JoinTokenClaims
  try {
    claims = decodeJoinTokenUnverified(opts.token).claims
  } catch (err) {
    if (err instanceof TokenError) throw new JoinError('TOKEN_MALFORMED', err.message)
    throw err
  }
  if (claims.cluster_name !== opts.clusterName) {
    throw new JoinError(
      'CLUSTER_MISMATCH',
      `the token is for cluster "${claims.cluster_name}", not "${opts.clusterName}"`,
    )
  }
  if (opts.clusterType !== undefined && opts.clusterType !== claims.role) {
    throw new JoinError(
      'CLUSTER_MISMATCH',
      `the token is for a ${claims.role} cluster, not ${opts.clusterType}`,
    )
  }
  const now = opts.now ?? Date.now
  const { reply, root } = await exchange(
    opts,
    { rootFingerprint: claims.rfp, federationId: claims.iss, now },
    { type: 'join', token: opts.token, name: opts.name, addresses: opts.addresses ?? [] },
  )
  if (reply.type === 'refused') throw new JoinError(reply.code, reply.message)
  if (reply.type !== 'joined') throw new JoinError('BAD_REPLY', `expected JOINED, got ${reply.type}`)
  const cert = checkIssued(reply.certificate, opts.nodeKey, root, claims.iss, now())
  if (reply.federation.id !== claims.iss) throw new JoinError('BAD_REPLY', 'JOINED names another federation')
  if (reply.secret.length < 16) throw new JoinError('BAD_REPLY', 'JOINED carries no usable federation secret')
  return { ...reply, claims, rootPublicKey: root, cert }
}

export interface RenewRequestOptions extends ExchangeOptions {
  rootPublicKey: Uint8Array
  federationId: string
}

/** Asks the control plane for a fresh certificate; authenticated by the node key the current one certifies. */
export async function requestRenewal(
  opts: RenewRequestOptions,
): Promise<{ cert: NodeCertificate; bytes: Uint8Array }> {
  const now = opts.now ?? Date.now
  const { reply, root } = await exchange(
    opts,
    { rootFingerprint: fingerprint(opts.rootPublicKey), federationId: opts.federationId, now },
    { type: 'renew' },
  )
  if (reply.type === 'refused') throw new JoinError(reply.code, reply.message)
  if (reply.type !== 'renewed') throw new JoinError('BAD_REPLY', `expected RENEWED, got ${reply.type}`)
  return {
    cert: checkIssued(reply.certificate, opts.nodeKey, root, opts.federationId, now()),
    bytes: reply.certificate,
  }
}

function checkIssued(
  bytes: Uint8Array,
  nodeKey: KeyPair,
  root: Uint8Array,
  federationId: string,
  now: number,
): NodeCertificate {
  try {
    const cert = decodeCertificate(bytes)
    verifyCertificate(cert, { rootPublicKey: root, federationId, now, clockSkewMs: 300_000 })
    if (!cert.publicKey.equals(nodeKey.publicKey)) throw new Error('it certifies another key')
    return cert
  } catch (err) {
    throw new JoinError('BAD_REPLY', `the issued certificate is not usable: ${(err as Error).message}`)
  }
}

/** Refusals after which another control-plane node may answer: unreachable, no leader now, or (NO_LEADER) an
 * issuer leaving the request to others. */
const ASK_ELSEWHERE: ReadonlySet<JoinErrorCode> = new Set(['UNREACHABLE', 'NO_LEADER', 'TIMEOUT'])

/**
 * Asks the control-plane endpoints in order until one answers: the first answer, or the first refusal that
 * another node would give too (a bad token, a revoked key), or — when every endpoint failed — the last error.
 */
export async function firstAnswer<T>(
  endpoints: readonly string[],
  ask: (endpoint: string) => Promise<T>,
): Promise<T> {
  let last: unknown = new JoinError('UNREACHABLE', 'no control-plane endpoint to ask')
  for (const endpoint of endpoints) {
    try {
      return await ask(endpoint)
    } catch (err) {
      if (!(err instanceof JoinError && ASK_ELSEWHERE.has(err.code))) throw err
      last = err
    }
  }
  throw last
}

/** Answers a repeat of the same join may change: no leader yet, or no answer in time (JoinService). */
const JOIN_AGAIN: ReadonlySet<JoinErrorCode> = new Set(['NO_LEADER', 'TIMEOUT'])

export interface PatienceOptions {
  /** Give up repeating after this long (the last error is thrown). Default 15 s. */
  readonly withinMs?: number
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
}

/**
 * `ask` (a join), repeated while the control plane answers NO_LEADER (it is electing a leader or has not
 * recorded the federation yet) or TIMEOUT (a join whose entry did commit is answered as joined when repeated
 * with the same token): pauses of 0.5 s doubling to 4 s, for at most `withinMs`. Anything else, and the last
 * of these once the time is up, is thrown as it came.
 */
export async function patiently<T>(ask: () => Promise<T>, o: PatienceOptions = {}): Promise<T> {
  const now = o.now ?? Date.now
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const until = now() + (o.withinMs ?? 15_000)
  for (let pause = 500; ; pause = Math.min(pause * 2, 4000)) {
    try {
      return await ask()
    } catch (err) {
      if (!(err instanceof JoinError && JOIN_AGAIN.has(err.code)) || now() + pause > until) throw err
    }
    await sleep(pause)
  }
}
