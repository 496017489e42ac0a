// Local API routes of the federation lifecycle: join a federation, revoke a node. Separate from routes.ts so the
// control-plane work stays additive; the daemon adds these next to the core table.

import type {
  FederationJoinRequest,
  FederationJoinResponse,
  RevokeNodeRequest,
  RevokeNodeResponse,
} from '../client/control-types.js'
import { z } from '../config/zod.js'
import type { Route } from './server.js'

export interface ControlApi {
  federationJoin(req: FederationJoinRequest): Promise<FederationJoinResponse>
  revokeNode(req: RevokeNodeRequest): Promise<RevokeNodeResponse>
}

const joinBody = z.strictObject({
  token: z.string().min(1).max(8192),
  control_plane: z.string().min(1).max(300),
  cluster_name: z.string().min(1).max(63),
  cluster_type: z.enum(['primary', 'secondary', 'edge']).optional(),
})

const revokeBody = z.strictObject({
  node: z.string().min(1).max(64),
  reason: z.string().max(256).optional(),
})

const route = <B>(r: Route<B>): Route<unknown> => r as Route<unknown>

export function controlRoutes(sys: ControlApi): Route<unknown>[] {
  return [
    route({
      method: 'POST',
      path: '/v1/federation/join',
      body: joinBody,
      handler: ({ body }) => sys.federationJoin(body as FederationJoinRequest),
    }),
    route({
      method: 'POST',
      path: '/v1/nodes/revoke',
      body: revokeBody,
      handler: ({ body }) => sys.revokeNode(body as RevokeNodeRequest),
    }),
  ]
}
