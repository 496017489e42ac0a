// What can go wrong in a simulated run, and how a seed chooses it. `swarm` follows swarm testing (Groce et
// al.; Jepsen's package-gen): each fault class is switched on with probability 1/2 and its parameters are
// drawn from the seed, so across many seeds every combination of faults gets exercised, including runs
// quiet enough for rare interleavings that a constant storm of faults would mask.

import type { SeededRng } from '../../../src/protocols/core/index.js'

export type PartitionKind = 'isolate' | 'split' | 'oneWay' | 'bridge'
export const PARTITION_KINDS: readonly PartitionKind[] = ['isolate', 'split', 'oneWay', 'bridge']

/** All durations and delays in virtual milliseconds; means are of exponential distributions. */
export interface FaultSpec {
  /** Every message takes `min + Exp(mean)` ms; a positive mean also reorders messages on a link. */
  readonly delay: { readonly min: number; readonly mean: number }
  /** Probability that one message is lost. */
  readonly loss: number
  /** Probability that one message is delivered twice (the copies take independent delays). */
  readonly duplicate: number
  readonly partitions?: {
    readonly every: number
    readonly duration: number
    readonly kinds: readonly PartitionKind[]
  }
  readonly crashes?: {
    readonly every: number
    readonly downtime: number
    /**
     * Share of crashes that strike in the middle of a step: after its persist, before (some of) its sends
     * — the worst moment a real kill -9 can pick.
     */
    readonly torn: number
    /** How many nodes may be down at once; default: a minority, at least one. */
    readonly maxDown?: number
  }
  /** A paused node stops stepping (SIGSTOP, a long GC, a VM migration); its inputs wait for it. */
  readonly pauses?: { readonly every: number; readonly duration: number }
  /** Each node's clock runs at a rate drawn from [1-ε, 1+ε]. */
  readonly clockDrift: number
  /**
   * Faults come in periods of mean length `length`; a share `quiet` of periods inject nothing new and
   * heal partitions, as real networks alternate between bad hours and calm ones.
   */
  readonly periods: { readonly length: number; readonly quiet: number }
}

export const NO_FAULTS: FaultSpec = {
  delay: { min: 1, mean: 0 },
  loss: 0,
  duplicate: 0,
  clockDrift: 0,
  periods: { length: 1000, quiet: 0 },
}

export interface SwarmOptions {
  /**
   * The protocol's characteristic time in ms (an election timeout, a ping interval): partitions, crashes
   * and pauses are sized in multiples of it, so one swarm suits a fast and a slow protocol alike.
   */
  readonly unit?: number
}

/** What the simulator's `faults` option accepts. */
export type FaultsOption = 'none' | 'swarm' | Partial<FaultSpec> | ((rng: SeededRng) => FaultSpec)

/** A fault schedule drawer for `faults`: each class on with p = 1/2, parameters from the seed. */
export function swarm(opts: SwarmOptions = {}): (rng: SeededRng) => FaultSpec {
  const u = opts.unit ?? 100
  return (rng) => {
    const on = (): boolean => rng.chance(0.5)
    // Draw every parameter whether or not its class is on, so toggling one class does not shift the rest.
    const delay = { min: rng.int(0, 5), mean: rng.between(1, 20) }
    const loss = rng.between(0.01, 0.3)
    const duplicate = rng.between(0.005, 0.05)
    const partitions = {
      every: u * rng.between(10, 50),
      duration: u * rng.between(5, 50),
      kinds: PARTITION_KINDS.filter(() => rng.chance(0.5)),
    }
    if (partitions.kinds.length === 0) partitions.kinds.push(rng.pick(PARTITION_KINDS))
    const crashes = {
      every: u * rng.between(10, 100),
      downtime: u * rng.between(2, 30),
      torn: rng.between(0, 0.5),
      maxDown: rng.chance(0.25) ? Number.POSITIVE_INFINITY : undefined,
    }
    const pauses = { every: u * rng.between(10, 100), duration: u * rng.between(5, 50) }
    const drift = rng.between(0.001, 0.1)
    const periods = { length: u * rng.between(20, 100), quiet: 0.25 }
    return {
      delay: on() ? delay : NO_FAULTS.delay,
      loss: on() ? loss : 0,
      duplicate: on() ? duplicate : 0,
      partitions: on() ? partitions : undefined,
      crashes: on() ? crashes : undefined,
      pauses: on() ? pauses : undefined,
      clockDrift: on() ? drift : 0,
      periods,
    }
  }
}

const defaultSwarm = swarm()

export function resolveFaults(option: FaultsOption | undefined, rng: SeededRng): FaultSpec {
  if (option === undefined || option === 'none') return NO_FAULTS
  if (option === 'swarm') return defaultSwarm(rng)
  if (typeof option === 'function') return option(rng)
  return { ...NO_FAULTS, ...option }
}

/** One line for failure messages: which faults this seed drew. */
export function describeFaults(f: FaultSpec): string {
  const ms = (x: number): string => `${Math.round(x)}ms`
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
  const parts = [
    f.delay.mean > 0 ? `delay ${f.delay.min}+exp(${f.delay.mean.toFixed(1)})ms` : `delay ${f.delay.min}ms`,
  ]
  if (f.loss > 0) parts.push(`loss ${pct(f.loss)}`)
  if (f.duplicate > 0) parts.push(`dup ${pct(f.duplicate)}`)
  if (f.partitions) {
    const p = f.partitions
    parts.push(`partitions[${p.kinds.join(',')}] every ${ms(p.every)} for ${ms(p.duration)}`)
  }
  if (f.crashes) {
    const c = f.crashes
    const max = c.maxDown === undefined ? 'minority' : Number.isFinite(c.maxDown) ? String(c.maxDown) : 'all'
    parts.push(`crashes every ${ms(c.every)} down ${ms(c.downtime)} torn ${pct(c.torn)} max ${max}`)
  }
  if (f.pauses) parts.push(`pauses every ${ms(f.pauses.every)} for ${ms(f.pauses.duration)}`)
  if (f.clockDrift > 0) parts.push(`drift ±${pct(f.clockDrift)}`)
  if (f.periods.quiet > 0) parts.push(`quiet ${pct(f.periods.quiet)} of ${ms(f.periods.length)} periods`)
  return parts.join(', ')
}
