// What every protocol and both drivers import: the machine contract, the driver's output order, the
// injected Clock and Rng, and the typed errors. Pure, like everything under src/protocols.

export { invariant, ProtocolError, type ProtocolErrorCode } from './errors.js'
export { inDriverOrder, OUTPUT_PHASE } from './order.js'
export { SeededRng } from './rng.js'
export type {
  Clock,
  Input,
  Machine,
  MachineContext,
  NodeId,
  Output,
  Outputs,
  Protocol,
  ProtocolTypes,
  RequestId,
  Rng,
} from './types.js'
