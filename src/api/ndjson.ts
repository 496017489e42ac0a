// Long-lived NDJSON answers (one JSON document per line) for subscriptions on the local API. A reader that
// cannot keep up loses documents past a bounded backlog instead of growing the daemon's memory.

import type { IncomingMessage, ServerResponse } from 'node:http'

/** Bytes a subscriber may leave unread before further documents are dropped. */
export const MAX_STREAM_BACKLOG = 8 * 1024 * 1024

/**
 * Writes one document as a line; returns false (and writes nothing) when the reader's backlog is over the
 * bound, so the caller counts the drop.
 */
export function writeNdjson(res: ServerResponse, doc: unknown): boolean {
  if (res.writableLength > MAX_STREAM_BACKLOG) return false
  res.write(`${JSON.stringify(doc)}\n`)
  return true
}

/** Sends the stream's headers now and calls `onClose` once when either side goes away. */
export function openNdjson(req: IncomingMessage, res: ServerResponse, onClose: () => void): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
  res.flushHeaders()
  let closed = false
  const done = () => {
    if (closed) return
    closed = true
    onClose()
  }
  req.on('close', done)
  res.on('close', done)
}
