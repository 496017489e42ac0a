// The trust material a node needs to enter the mesh, read from its state directory: the federation record
// (root public key), this node's certificate, the federation secret (the discovery topic is derived from it)
// and the revocations it knows. A node without a certificate runs standalone until it joins.

import { promises as fs } from 'node:fs'
import path from 'node:path'
import {
  decodeCertificate,
  type Federation,
  loadFederation,
  type NodeCertificate,
  RevocationSet,
  revocationListCodec,
} from '../identity/index.js'
import { decodeWith } from '../wire/index.js'

export const CERT_FILE = 'node.cert'
export const REVOCATIONS_FILE = 'revocations.bin'
export const SECRET_FILE = 'federation.secret'

export interface TrustMaterial {
  federation: Federation
  certificate: NodeCertificate
  certificateBytes: Uint8Array
  secret: Uint8Array
  revocations: RevocationSet
}

export type TrustLoad = { ok: true; trust: TrustMaterial } | { ok: false; missing: string }

async function readOptional(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

export async function loadTrust(stateDir: string, secretFile: string): Promise<TrustLoad> {
  let federation: Federation
  try {
    federation = await loadFederation(stateDir)
  } catch (err) {
    if ((err as { code?: string }).code === 'FEDERATION_NOT_FOUND')
      return { ok: false, missing: 'federation.json' }
    throw err
  }
  const certificateBytes = await readOptional(path.join(stateDir, CERT_FILE))
  if (!certificateBytes) return { ok: false, missing: CERT_FILE }
  const secret = await readOptional(secretFile)
  if (!secret) return { ok: false, missing: secretFile }
  const revocations = new RevocationSet(federation.rootPublicKey)
  const revBytes = await readOptional(path.join(stateDir, REVOCATIONS_FILE))
  if (revBytes) for (const r of decodeWith(revocationListCodec, revBytes)) revocations.add(r)
  return {
    ok: true,
    trust: {
      federation,
      certificate: decodeCertificate(certificateBytes),
      certificateBytes,
      secret,
      revocations,
    },
  }
}
