// V8's low-memory notification, for the idle heap trim (src/daemon/heap-trim.ts). A full collection from gc()
// frees the old generation's garbage but leaves the young generation at its high-water mark: V8 grows it to
// 2 x 16 MiB under a burst of allocation (start-up, a join), and in Node 20 (V8 11.3) only its memory reducer
// shrinks it back, 60-90 s into an idle period. Isolate::LowMemoryNotification() collects everything that can
// be collected in memory-reducing mode, which also shrinks the young generation to its minimum (measured: a
// process at 62.9 MiB resident with a grown young generation went to 45.8 MiB). This is V8's C++ API rather
// than Node-API, so the addon is built against the headers of the Node that runs it (scripts/build-native.mjs).

#include <v8.h>

extern "C" {
#include "addon.h"
}

namespace {

// lowMemory(): collects in memory-reducing mode on the calling isolate; returns nothing.
napi_value LowMemory(napi_env env, napi_callback_info info) {
  (void)info;
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return br_null(env);
}

}  // namespace

extern "C" void br_init_heap(napi_env env, napi_value exports) {
  br_export(env, exports, "lowMemory", LowMemory);
}
