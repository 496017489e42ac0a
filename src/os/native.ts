// The blackroad_native addon (native-bindings/), loaded lazily on first use from the package root, so it is found
// the same way from dist/src (tests) and from the bundle in dist/bin (users): it is never bundled. Everything it
// offers has a pure-JS fallback; nativeAddon() returns null when it is missing, fails to load, is not for this
// platform, or is turned off with BLACKROAD_NATIVE=off, and nativeProblem() says why in one line.

import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The addon's exports (native-bindings/src/*.c). Errno results are 0 on success. */
export interface NativeAddon {
  /** One datagram with `state` to the NOTIFY_SOCKET address `socket` (a path or "@abstract"); errno or 0. */
  sdNotify(socket: string, state: string): number
  /** A bound, non-blocking Unix datagram socket (for tests playing systemd); throws on failure. */
  notifyListen(socket: string): number
  /** The next datagram on a notifyListen socket, or null when none is waiting. */
  notifyRecv(fd: number): string | null
  closeFd(fd: number): void
  /** Datagrams per batch and bytes per slot of the batched UDP buffers. */
  readonly udpBatch: number
  readonly udpSlot: number
  /** Binds host:port and calls onBatch(n) from the event loop with n datagrams; returns [handle, bound port]. */
  udpOpen(
    host: string,
    port: number,
    rcvbuf: number,
    input: Buffer,
    lens: Int32Array,
    output: Buffer,
    outInfo: Int32Array,
    onBatch: (n: number) => number,
  ): [UdpHandle, number]
  /** Source address of datagram i of the current batch (opaque sockaddr bytes), for a later udpSendTo. */
  udpPeer(handle: UdpHandle, i: number): Buffer
  udpSendTo(handle: UdpHandle, data: Uint8Array, peer: Buffer): number
  udpClose(handle: UdpHandle): void
  /** glibc's malloc_trim(0): whether free pages of the C heap went back to the kernel (absent off glibc). */
  mallocTrim?: () => boolean
  /**
   * V8's Isolate::LowMemoryNotification(): collects everything collectable in memory-reducing mode, which also
   * shrinks the young generation back to its minimum (absent when the running node does not export it, or from an
   * addon built before it existed).
   */
  lowMemory?: () => void
  /**
   * Unmaps the resident pages of private, read-only file mappings that hold no private copy (node's code and
   * data, shared libraries; native-bindings/src/pages.c): kB unmapped, or -errno (absent in an older addon).
   */
  dropFilePages?: () => number
  /**
   * Busy polling (native-bindings/src/busypoll.c, src/os/busy-poll.ts): sets the maximum window in microseconds
   * (0: off) and starts the SCHED_IDLE helper thread once. 0 when it runs, -1 when only one CPU is usable, -2
   * without a libuv loop, else the errno of pthread_create or of taking SCHED_IDLE. Absent off Linux and in an
   * older addon.
   */
  busyPollStart?: (maxUs: number) => number
  /** A burst of `items` messages and its output went out: adapts the window and opens it. */
  busyPoll?: (items: number) => void
  /** [calls, calls inside an open window, nanoseconds spun, window in nanoseconds]. */
  busyPollStats?: () => number[]
}

declare const udpHandleBrand: unique symbol
export type UdpHandle = { readonly [udpHandleBrand]: true }

export const ADDON_FILE = path.join('native-bindings', 'build', 'Release', 'blackroad_native.node')

let loaded: NativeAddon | null | undefined
let problem: string | null = null

/** The directory holding our package.json, from wherever this module (or the bundle chunk holding it) lives. */
export function packageRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'native-bindings')))
      return dir
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return null
}

/** The addon, or null (see nativeProblem()). Loads once; later calls are a field read. */
export function nativeAddon(): NativeAddon | null {
  if (loaded !== undefined) return loaded
  loaded = null
  const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase()
  if (off === '0' || off === 'off' || off === 'false') {
    problem = 'turned off with BLACKROAD_NATIVE=off'
  } else if (process.platform !== 'linux') {
    problem = `not built for ${process.platform}`
  } else {
    const root = packageRoot()
    const file = root === null ? null : path.join(root, ADDON_FILE)
    if (file === null || !existsSync(file)) {
      problem = `${ADDON_FILE} is missing (build it with: npm run build:native)`
    } else {
      try {
        loaded = createRequire(import.meta.url)(file) as NativeAddon
      } catch (err) {
        problem = `${file} does not load: ${(err as Error).message.split('\n')[0]}`
      }
    }
  }
  return loaded
}

/** Why nativeAddon() is null, or null when it loaded (or was not asked for yet). */
export function nativeProblem(): string | null {
  return problem
}
