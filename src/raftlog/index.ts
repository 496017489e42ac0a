// Durable Raft storage for the daemon: the one non-pure part of the control plane. The driver opens the
// store, creates the Raft machine from `store.initial`, and awaits `store.save(state)` for every
// 'persist' output before it sends anything from the same batch (persist → send → reply, as
// src/protocols/core/order.ts says).
//
//   const store = await RaftLogStore.open('/var/lib/blackroad/raft')
//   if (store.report.repairedTail) log.warn(store.report.repairedTail, 'raft WAL: torn tail cut off')
//   const machine = protocol.create(ctx, store.initial)

export { RaftLogError, type RaftLogErrorCode } from './errors.js'
export { encodeFrame, FRAME_HEADER, intactFrameAfter, MAX_FRAME, readFrame, scanFrames } from './frame.js'
export { ReplayedLog, type WalRecord, walRecordCodec } from './records.js'
export { type OpenReport, type RaftLogOptions, RaftLogStore, SNAPSHOT_FILE, WAL_FILE } from './store.js'
