// The route table of the local API: each route is a method, a path, a strict body schema and a small handler
// calling into the daemon through the ApiSystem interface (so this file knows nothing of how the daemon is
// wired, and tests can serve it over a fake system).

import type {
  CreateClusterRequest,
  CreateClusterResponse,
  FederationInfo,
  FederationInitRequest,
  KeysResponse,
  NetworkStatus,
  PeerInfo,
  RotateKeysResponse,
  RouteInfo,
  StatusResponse,
} from '../client/types.js'
import { z } from '../config/zod.js'
import type { Route } from './server.js'

export interface ApiSystem {
  status(): StatusResponse
  keys(): KeysResponse
  federationInit(req: FederationInitRequest): Promise<FederationInfo>
  federationInfo(): Promise<FederationInfo>
  createCluster(req: CreateClusterRequest): Promise<CreateClusterResponse>
  network(): NetworkStatus
  peers(): Promise<PeerInfo[]>
  routes(): RouteInfo[]
  rotateKeys(): Promise<RotateKeysResponse>
}

const federationInitBody = z.strictObject({
  name: z.string().min(1).max(63),
})

const createClusterBody = z.strictObject({
  name: z.string().min(1).max(63),
  region: z.string().min(1).max(64),
  capacity: z.number().int().positive().max(10_000_000),
  role: z.enum(['primary', 'secondary', 'edge']).optional(),
  ttl_seconds: z
    .number()
    .int()
    .positive()
    .max(365 * 24 * 3600)
    .optional(),
})

/** Erases a route's body type so routes with different bodies fit in one table; the schema still checks it. */
const route = <B>(r: Route<B>): Route<unknown> => r as Route<unknown>

export function buildRoutes(sys: ApiSystem): Route<unknown>[] {
  return [
    { method: 'GET', path: '/v1/status', handler: () => sys.status() },
    { method: 'GET', path: '/v1/keys', handler: () => sys.keys() },
    { method: 'GET', path: '/v1/federation', handler: () => sys.federationInfo() },
    { method: 'GET', path: '/v1/network', handler: () => sys.network() },
    { method: 'GET', path: '/v1/peers', handler: () => sys.peers() },
    { method: 'GET', path: '/v1/routes', handler: () => sys.routes() },
    route({
      method: 'POST',
      path: '/v1/keys/rotate',
      body: z.strictObject({}),
      handler: () => sys.rotateKeys(),
    }),
    route({
      method: 'POST',
      path: '/v1/federation/init',
      body: federationInitBody,
      handler: ({ body }) => sys.federationInit(body as FederationInitRequest),
    }),
    route({
      method: 'POST',
      path: '/v1/federation/clusters',
      body: createClusterBody,
      handler: ({ body }) => sys.createCluster(body as CreateClusterRequest),
    }),
  ]
}
