// The message bus's public surface: the router the daemon wires to peer links, routing and the local
// API; the envelope and frame codecs; subjects; errors; the injected time and randomness.

export { DedupCache, type DedupOptions } from './dedup.js'
export {
  checkEnvelope,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_PRIORITY,
  DEFAULT_TTL,
  decodeEnvelope,
  decodeEnvelopeAt,
  type Envelope,
  type EnvelopeLimits,
  encodeEnvelope,
  envelopeCodec,
  envelopeSize,
  envelopeWith,
  Flag,
  MAX_DESTINATIONS,
  MAX_NAME_BYTES,
  MAX_PRIORITY,
  MIN_PRIORITY,
  makeEnvelope,
  maxEnvelopeBytes,
  REQUEST_PRIORITY,
  writeEnvelope,
} from './envelope.js'
export { BusError, type BusErrorCode, DROP_REASONS, type DropReason, isBusError } from './errors.js'
export { encodeBatch, FrameKind, forEachInBatch, MAX_BATCH_COUNT, writeBatch } from './frames.js'
export {
  decodeInterest,
  encodeInterest,
  type InterestRecord,
  InterestTable,
  MAX_PATTERNS_PER_NODE,
} from './interest.js'
export { BusMetrics } from './metrics.js'
export { checkName, intern } from './names.js'
export { SENT } from './outbound.js'
export { PriorityQueue } from './queue.js'
export { BusRouter } from './router.js'
export {
  decodeRun,
  MAX_RUN_COUNT,
  Run,
  runFrameRoom,
  seqAt,
  writeRunFrame,
  writeRunFrameInto,
} from './runs.js'
export {
  type Clock,
  type Rng,
  type Scheduler,
  systemClock,
  systemRng,
  systemScheduler,
  type TimerHandle,
} from './scheduler.js'
export {
  isValidPattern,
  isValidSubject,
  MAX_SUBJECT_BYTES,
  MAX_SUBJECT_TOKENS,
  patternMatches,
  SubjectIndex,
  validatePattern,
  validateSubject,
} from './subjects.js'
export {
  type Address,
  type BusLimits,
  type BusLink,
  type BusOptions,
  DEFAULT_LIMITS,
  type DirectOptions,
  type MessageHandler,
  type NextHop,
  type PolicyDecision,
  type PolicyDirection,
  type PolicyHook,
  type PublishOptions,
  policyRefusal,
  type RequestOptions,
  type RunHandler,
  type SendOptions,
  type Subscription,
} from './types.js'
