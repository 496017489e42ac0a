// Returning the C heap's free memory to the kernel. glibc's malloc keeps freed memory inside its heap for reuse and
// only gives back what lies above the last block in use; after a burst (start-up compiles, a join's certificates
// and link-state floods, a bus backlog) an idle daemon's [heap] stays at its high-water mark. malloc_trim(0)
// releases every whole free page in the heap (madvise(MADV_DONTNEED) for pages between blocks in use, a shrink of
// the top), which the daemon asks for after its idle full collection (src/daemon/heap-trim.ts), when V8 has just
// freed the backing stores of dead ArrayBuffers. Only glibc has it; elsewhere the export is absent.

#include "addon.h"

#if defined(__GLIBC__)
#include <malloc.h>

/* mallocTrim(): whether any memory went back to the kernel. */
static napi_value malloc_trim_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
  return out;
}
#endif

void br_init_malloc(napi_env env, napi_value exports) {
#if defined(__GLIBC__)
  br_export(env, exports, "mallocTrim", malloc_trim_js);
#else
  (void)env;
  (void)exports;
#endif
}
