// V8's low-memory notification, for the idle heap trim (src/daemon/heap-trim.ts). A full collection from gc()
// frees the old generation's garbage but leaves the young generation at its high-water mark: V8 grows it to
// 2 x 16 MiB under a burst of allocation (start-up, a join), and in Node 20 (V8 11.3) only its memory reducer
// shrinks it back, 60-90 s into an idle period. Isolate::LowMemoryNotification() collects everything that can
// be collected in memory-reducing mode, which also shrinks the young generation to its minimum (measured: a
// process at 62.9 MiB resident with a grown young generation went to 45.8 MiB).
//
// That is V8's C++ API, not Node-API. Rather than compiling C++ against one Node's V8 headers (and failing to
// load, sd_notify included, under a Node whose V8 lacks the symbol), the two functions are looked up in the
// running process by their Itanium-ABI names: node exports V8's API for addons. A non-virtual member function
// is called as a plain function taking `this` first. When either is missing, lowMemory is not exported and the
// trim uses gc().

#include "addon.h"

#include <dlfcn.h>
#include <stddef.h>

typedef void *(*get_current_fn)(void);
typedef void (*low_memory_fn)(void *isolate);

static get_current_fn get_current;
static low_memory_fn low_memory;

/* lowMemory(): collects in memory-reducing mode on the calling isolate; returns null. */
static napi_value low_memory_js(napi_env env, napi_callback_info info) {
  (void)info;
  void *isolate = get_current();
  if (isolate != NULL) low_memory(isolate);
  return br_null(env);
}

void br_init_heap(napi_env env, napi_value exports) {
  // v8::Isolate::GetCurrent() and v8::Isolate::LowMemoryNotification().
  get_current = (get_current_fn)dlsym(RTLD_DEFAULT, "_ZN2v87Isolate10GetCurrentEv");
  low_memory = (low_memory_fn)dlsym(RTLD_DEFAULT, "_ZN2v87Isolate21LowMemoryNotificationEv");
  if (get_current != NULL && low_memory != NULL) br_export(env, exports, "lowMemory", low_memory_js);
}
