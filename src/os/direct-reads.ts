// Reads of a socket handed straight to a callback, without the socket's Readable stream. Node reads a socket into
// a buffer it allocates per read, then pushes it through the Readable: push, addChunk, the 'data' event, and a
// process.nextTick (maybeReadMore) that runs the tick queue after every read. In the bus's routers that path was
// about a sixth of a request/reply hop's user time (perf of a router: Node's stream code and the C++ callback
// around it, with megamorphic property loads, as lanes, sessions and the API's HTTP sockets all pass through the
// same functions). Node has a documented way for sockets it dials (net.connect's `onread`: the socket reads into
// a buffer of the caller's and calls a callback); sockets a server accepts get no such option, so this sets the
// same three fields `onread` sets on an existing socket.
//
// It uses what is not Node's public API: the socket's `_handle.useUserBuffer` and the symbols `kBuffer`,
// `kBufferCb` and `kBufferGen` (found by their descriptions), the fields Node's own onread support reads in
// onStreamRead (lib/internal/stream_base_commons.js, Node 20). readDirect() checks that they are there and returns
// false otherwise; the caller then keeps its 'data' listener.
//
// Every chunk handed over is the caller's to keep (frames and messages are views of it, queued or held), as with
// 'data': each read is copied out of the one read buffer into a buffer of its own size, which is what Node's
// reads cost too (a buffer per read, shrunk to the bytes read). Handing large reads over in the read buffer
// itself and starting a new one was slower under the bus's throughput (0.94 of this; bus-ab): a 64 KiB buffer kept
// per read, however little it held, counts as external memory and brings V8's full collections sooner.

import type { Socket } from 'node:net'

/** The read buffer's size (Node's own per-read allocation is 64 KiB). */
const READ_BYTES = 64 * 1024

interface HandleInternals {
  useUserBuffer?: (buf: Uint8Array) => void
}

/**
 * From now on every read of `socket` goes to `onChunk` (a buffer the callee may keep) instead of the 'data'
 * event; 'end', 'close', 'error', pause() and resume() work as before (Node's onread sockets). False, and nothing
 * changed, when the socket has no libuv handle of the expected shape or its Readable already holds bytes.
 */
export function readDirect(socket: Socket, onChunk: (chunk: Buffer) => void): boolean {
  const fields = socket as unknown as Record<symbol, unknown> & { _handle?: HandleInternals | null }
  const handle = fields._handle
  const symbols = new Map<string, symbol>()
  for (const s of Object.getOwnPropertySymbols(socket))
    if (s.description !== undefined) symbols.set(s.description, s)
  const kBuffer = symbols.get('kBuffer')
  const kBufferCb = symbols.get('kBufferCb')
  const kBufferGen = symbols.get('kBufferGen')
  if (
    handle === undefined ||
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    kBuffer === undefined ||
    kBufferCb === undefined ||
    kBufferGen === undefined ||
    fields[kBuffer] !== null ||
    socket.readableLength > 0 ||
    socket.destroyed
  ) {
    return false
  }
  const buf = Buffer.allocUnsafeSlow(READ_BYTES)
  fields[kBuffer] = buf
  fields[kBufferCb] = (n: number, b: Buffer) => {
    const chunk = Buffer.allocUnsafeSlow(n)
    b.copy(chunk, 0, 0, n)
    onChunk(chunk)
    // Keep reading unless the callee paused the socket (pause() stops the handle itself).
    return true
  }
  handle.useUserBuffer(buf)
  // Reading may have stopped with the Readable paused (an upgraded HTTP socket): start it again.
  socket.resume()
  return true
}

/** Every read of `socket` to `onChunk`: directly where readDirect can, else through 'data'. */
export function onReads(socket: Socket, onChunk: (chunk: Buffer) => void): void {
  if (!readDirect(socket, onChunk)) socket.on('data', onChunk)
}
