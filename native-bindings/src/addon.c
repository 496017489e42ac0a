// blackroad_native: the few things Node lacks that the router needs (sd_notify over a datagram socket, batched
// UDP I/O for the mesh DNS server, malloc_trim, V8's low-memory notification,
// unmapping idle file pages, a busy-poll thread at idle priority). Loaded lazily by src/os/native.ts; every
// export has a pure-JS fallback (or, for busy polling, none is needed: the daemon just does not spin).

#include "addon.h"

#include <stdio.h>
#include <string.h>

int br_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS", "blackroad_native: missing arguments");
    return -1;
  }
  return 0;
}

int br_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS", "blackroad_native: expected a string");
    return -1;
  }
  if (len + 1 > size) {
    napi_throw_range_error(env, "ERR_NATIVE_ARGS", "blackroad_native: string too long");
    return -1;
  }
  napi_get_value_string_utf8(env, v, buf, size, &len);
  return 0;
}

napi_value br_int(napi_env env, int v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value br_null(napi_env env) {
  napi_value out;
  napi_get_null(env, &out);
  return out;
}

napi_value br_throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_NATIVE_SYSCALL", msg);
  return NULL;
}

void br_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

static napi_value init(napi_env env, napi_value exports) {
  br_init_notify(env, exports);
  br_init_udp(env, exports);
  br_init_malloc(env, exports);
  br_init_heap(env, exports);
  br_init_pages(env, exports);
#if defined(__linux__)
  br_init_busypoll(env, exports);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
