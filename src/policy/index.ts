// Network policies: the pure engine (matching, rate limits, latency and encryption rules) and the bus's
// enforcement point built on it.

export {
  type CompiledPolicy,
  compilePolicies,
  DEFAULT_POLICY,
  type Direction,
  type Party,
  type PathInfo,
  PolicyEngine,
  type PolicyEngineOptions,
  PolicyError,
  type PolicyOutcome,
  type PolicySpec,
  parseSelector,
  type Selector,
  type SelectorKind,
  type Verdict,
} from './engine.js'
export { type NodeDirectory, type NodeFacts, PolicyPoint, type PolicyPointOptions } from './hook.js'
