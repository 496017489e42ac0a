// The whole configuration schema: one strict zod object per section, every field described. This file is the
// reference documentation (describeSchema() prints it) and the only definition of the Config type.
// Sections that the guide spreads over several files (cluster.yaml, mesh.yaml, dns.yaml, replication.yaml,
// mtls.yaml) live side by side here; where two of them name the same setting, the root transform reconciles them.

import path from 'node:path'
import { formatDuration } from './duration.js'
import { absPath, duration, fileMode, hostPort, MAX_TIMER_MS, typed } from './fields.js'
import { DEFAULT_CONFIG_PATH } from './paths.js'
import { clusterSchema, federationSchema, nodeSchema, resourcesSchema } from './schema-cluster.js'
import { replicationSchema, tlsSchema } from './schema-data.js'
import { discoverySchema, dnsSchema, meshSchema, networkSchema, wireguardSchema } from './schema-network.js'
import { z } from './zod.js'

export { DEFAULT_CONFIG_PATH }

const DEFAULT_KEY_ROTATION_MS = 24 * 3_600_000
const DEFAULT_DOMAIN = 'mesh.blackroad.local'
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107

const apiSchema = z
  .strictObject({
    socket: typed(
      absPath().refine((s) => Buffer.byteLength(s) <= MAX_SOCKET_PATH_BYTES, {
        message: `Unix socket paths are limited to ${MAX_SOCKET_PATH_BYTES} bytes`,
      }),
      'absolute path',
    )
      .prefault('/run/blackroad/blackroad.sock')
      .describe('Path of the local API socket (HTTP/1.1 over a Unix socket).'),
    group: typed(
      z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { message: 'expected a Unix group name like blackroad' }),
      'group name',
    )
      .prefault('blackroad')
      .describe('Group owning the socket; its members may use the API.'),
    mode: fileMode()
      .prefault('0660')
      .describe('Permissions of the socket, octal ("0660"); digits are always read as octal.'),
    max_body_bytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .prefault(1024 * 1024)
      .describe('Largest request body accepted, in bytes; larger requests get 413.'),
    request_timeout: duration({ min: 100, max: MAX_TIMER_MS })
      .prefault('30s')
      .describe('A request not answered in this time is failed; streaming responses are exempt.'),
    stream_max_pending_bytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .prefault(8 * 1024 * 1024)
      .describe(
        "Bytes a bus stream connection may have waiting to be read (the daemon's and the socket's buffers) before messages to it are dropped and counted as slow_consumer; a client that stays over it for 5 s is disconnected. Like NATS's max_pending: raise it for bursty subscribers, at the cost of that much memory per slow connection.",
      ),
  })
  .prefault({})
  .describe('The local Unix-socket API.')

const metricsSchema = z
  .strictObject({
    enabled: z.boolean().prefault(true).describe('Serve Prometheus metrics over HTTP.'),
    listen: hostPort().prefault('127.0.0.1:9464').describe('Address of the metrics endpoint (GET /metrics).'),
  })
  .prefault({})
  .describe('Prometheus metrics.')

const loggingSchema = z
  .strictObject({
    level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .prefault('info')
      .describe('Least severe level written.'),
    format: z
      .enum(['json', 'pretty', 'auto'])
      .prefault('auto')
      .describe('json for journald and log shippers, pretty for people; auto picks pretty on a terminal.'),
  })
  .prefault({})
  .describe('Logs (pino, to stdout; systemd sends them to the journal).')

const sections = z.strictObject({
  node: nodeSchema,
  cluster: clusterSchema,
  network: networkSchema,
  discovery: discoverySchema,
  wireguard: wireguardSchema,
  dns: dnsSchema,
  api: apiSchema,
  metrics: metricsSchema,
  logging: loggingSchema,
  mesh: meshSchema,
  resources: resourcesSchema,
  replication: replicationSchema,
  tls: tlsSchema,
  federation: federationSchema,
})

type Sections = z.output<typeof sections>

/** Fills settings whose default depends on another field and rejects files that set one thing two ways. */
function reconcile(c: Sections, ctx: z.RefinementCtx) {
  const conflict = (where: (string | number)[], a: string, b: string) =>
    ctx.addIssue({
      code: 'custom',
      path: where,
      message: `conflicts with ${a} (${b}); set one of them, or both to the same value`,
    })

  const wgRot = c.wireguard.key_rotation
  const meshRot = c.mesh.encryption.key_rotation
  if (wgRot !== undefined && meshRot !== undefined && wgRot !== meshRot) {
    conflict(['mesh', 'encryption', 'key_rotation'], 'wireguard.key_rotation', formatDuration(wgRot))
  }
  const keyRotation = wgRot ?? meshRot ?? DEFAULT_KEY_ROTATION_MS

  const dnsDomain = c.dns.domain?.replace(/\.$/, '')
  const meshDomain = c.mesh.discovery.domain?.replace(/\.$/, '')
  if (
    dnsDomain !== undefined &&
    meshDomain !== undefined &&
    dnsDomain.toLowerCase() !== meshDomain.toLowerCase()
  ) {
    conflict(['mesh', 'discovery', 'domain'], 'dns.domain', dnsDomain)
  }
  const domain = (dnsDomain ?? meshDomain ?? DEFAULT_DOMAIN).toLowerCase()

  const clusterCp = c.cluster.federation.control_plane
  const fedCp = c.federation.control_plane
  const missing = clusterCp.filter((e) => !fedCp.includes(e))
  if (fedCp.length > 0 && missing.length > 0) {
    conflict(['cluster', 'federation', 'control_plane'], 'federation.control_plane', fedCp.join(', '))
  }

  return {
    ...c,
    node: { ...c.node, role: c.node.role ?? c.cluster.type },
    discovery: {
      ...c.discovery,
      federation_secret_file:
        c.discovery.federation_secret_file ?? path.join(c.node.state_dir, 'federation.secret'),
    },
    wireguard: { ...c.wireguard, key_rotation: keyRotation },
    dns: { ...c.dns, domain },
    mesh: {
      ...c.mesh,
      encryption: { ...c.mesh.encryption, key_rotation: keyRotation },
      discovery: { ...c.mesh.discovery, domain },
    },
    federation: { ...c.federation, control_plane: fedCp.length > 0 ? fedCp : clusterCp },
  }
}

export const configSchema = sections.transform(reconcile)

/** The daemon's configuration, fully defaulted; keys are snake_case exactly as in the YAML file. */
export type Config = z.output<typeof configSchema>
