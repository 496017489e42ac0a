// A named channel of one peer link: a handle that sends on that name and emits only that name's messages,
// so the routing and bus drivers each hold their own channel instead of filtering a shared stream.

import { EventEmitter } from 'node:events'
import type { PeerLink } from './link.js'
import type { LinkChannel } from './types.js'

/** A named channel of one link: send() and 'message' events for that name only. */
export class Channel extends EventEmitter<{ message: [payload: Uint8Array] }> implements LinkChannel {
  constructor(
    readonly link: PeerLink,
    readonly name: string,
  ) {
    super()
  }

  send(payload: Uint8Array): boolean {
    return this.link.send(this.name, payload)
  }

  drained(): Promise<void> {
    return this.link.drained()
  }
}
