// How registry commands and their results travel inside Raft entries: u8 version, u8 command tag, the
// fields in declaration order. A command's bytes are what Raft replicates and what every replica decodes
// and applies, so the format is strict: one command, one encoding, every length capped.

import type { Codec } from '../../wire/index.js'
import { DecodeError, decodeWith, encodeWith } from '../../wire/index.js'
import {
  agentCodec,
  clusterCodec,
  federationCodec,
  joiningNodeCodec,
  policyCodec,
  REGISTRY_LIMITS,
  readEnum,
  readOptionalText,
  readText,
  resourcesCodec,
  revocationCodec,
  writeEnum,
  writeOptionalText,
} from './codec.js'
import { type CommandResult, REJECT_CODES, type RegistryCommand, type RegistryCommandType } from './types.js'

export const REGISTRY_COMMAND_VERSION = 1

const TAGS: readonly RegistryCommandType[] = [
  'initFederation',
  'addCluster',
  'updateCluster',
  'removeCluster',
  'cordonCluster',
  'joinNode',
  'removeNode',
  'renewCertificate',
  'heartbeat',
  'assignIpv4',
  'revoke',
  'pruneNonces',
  'setPolicy',
  'removePolicy',
  'registerAgent',
  'removeAgent',
  'place',
  'unplace',
]

export const registryCommandCodec: Codec<RegistryCommand> = {
  encode(w, c) {
    w.u8(REGISTRY_COMMAND_VERSION)
    writeEnum(w, TAGS, c.type)
    switch (c.type) {
      case 'initFederation':
        return federationCodec.encode(w, c.federation)
      case 'addCluster':
      case 'updateCluster':
        return clusterCodec.encode(w, c.cluster)
      case 'removeCluster':
      case 'removeNode':
      case 'removeAgent':
        w.string(c.id)
        return
      case 'cordonCluster':
        w.string(c.id).bool(c.cordoned)
        return
      case 'joinNode':
        w.bytes(c.nonce).varint(c.nonceExpiresAt)
        joiningNodeCodec.encode(w, c.node)
        w.u32(c.preferredIpv4).varint(c.at)
        return
      case 'renewCertificate':
        w.string(c.id).bytes(c.certificate)
        return
      case 'heartbeat':
        w.string(c.id).varint(c.at)
        return resourcesCodec.encode(w, c.resources)
      case 'assignIpv4':
        w.string(c.id).u32(c.ipv4)
        return
      case 'revoke':
        return revocationCodec.encode(w, c.revocation)
      case 'pruneNonces':
        w.varint(c.before)
        return
      case 'setPolicy':
        return policyCodec.encode(w, c.policy)
      case 'removePolicy':
        w.string(c.name)
        return
      case 'registerAgent':
        return agentCodec.encode(w, c.agent)
      case 'place':
        w.string(c.agent).string(c.cluster)
        writeOptionalText(w, c.node)
        w.varint(c.epoch).varint(c.at)
        return
      case 'unplace':
        w.string(c.agent).varint(c.epoch)
        return
    }
  },
  decode(r) {
    const version = r.u8()
    if (version !== REGISTRY_COMMAND_VERSION) {
      throw new DecodeError('unsupported-version', `registry command version ${version}`, 0)
    }
    const type = readEnum(r, TAGS, 'registry command')
    switch (type) {
      case 'initFederation':
        return { type, federation: federationCodec.decode(r) }
      case 'addCluster':
      case 'updateCluster':
        return { type, cluster: clusterCodec.decode(r) }
      case 'removeCluster':
      case 'removeNode':
      case 'removeAgent':
        return { type, id: readText(r) }
      case 'cordonCluster':
        return { type, id: readText(r), cordoned: r.bool() }
      case 'joinNode':
        return {
          type,
          nonce: r.bytes(REGISTRY_LIMITS.nonceBytes).slice(),
          nonceExpiresAt: r.varint(),
          node: joiningNodeCodec.decode(r),
          preferredIpv4: r.u32(),
          at: r.varint(),
        }
      case 'renewCertificate':
        return { type, id: readText(r), certificate: r.bytes(REGISTRY_LIMITS.certificateBytes).slice() }
      case 'heartbeat':
        return { type, id: readText(r), at: r.varint(), resources: resourcesCodec.decode(r) }
      case 'assignIpv4':
        return { type, id: readText(r), ipv4: r.u32() }
      case 'revoke':
        return { type, revocation: revocationCodec.decode(r) }
      case 'pruneNonces':
        return { type, before: r.varint() }
      case 'setPolicy':
        return { type, policy: policyCodec.decode(r) }
      case 'removePolicy':
        return { type, name: readText(r) }
      case 'registerAgent':
        return { type, agent: agentCodec.decode(r) }
      case 'place':
        return {
          type,
          agent: readText(r),
          cluster: readText(r),
          node: readOptionalText(r),
          epoch: r.varint(),
          at: r.varint(),
        }
      case 'unplace':
        return { type, agent: readText(r), epoch: r.varint() }
    }
  },
}

export const commandResultCodec: Codec<CommandResult> = {
  encode(w, res) {
    if (res.ok) {
      w.u8(1).u32(res.ipv4)
      return
    }
    w.u8(0)
    writeEnum(w, REJECT_CODES, res.code)
    w.string(res.message)
  },
  decode(r) {
    const at = r.offset
    const tag = r.u8()
    if (tag === 1) return { ok: true, ipv4: r.u32() }
    if (tag !== 0) throw new DecodeError('unknown-tag', `command result tag ${tag}`, at)
    return { ok: false, code: readEnum(r, REJECT_CODES, 'reject code'), message: r.string(1024) }
  },
}

/** The bytes to propose through Raft for `command`. */
export function encodeCommand(command: RegistryCommand): Uint8Array {
  return encodeWith(registryCommandCodec, command)
}

export function decodeCommand(bytes: Uint8Array): RegistryCommand {
  return decodeWith(registryCommandCodec, bytes)
}

export function encodeResult(result: CommandResult): Uint8Array {
  return encodeWith(commandResultCodec, result)
}

/** The result Raft returned for a registry command (a DecodeError if the bytes are not one). */
export function decodeResult(bytes: Uint8Array): CommandResult {
  return decodeWith(commandResultCodec, bytes)
}

export function isCommandType(s: string): s is RegistryCommandType {
  return (TAGS as readonly string[]).includes(s)
}
