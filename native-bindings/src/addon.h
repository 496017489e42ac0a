// Shared helpers of the blackroad_native addon (argument checks, errors, exports).
#ifndef BR_ADDON_H
#define BR_ADDON_H

#include <node_api.h>
#include <stddef.h>

int br_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
int br_string(napi_env env, napi_value v, char *buf, size_t size);
napi_value br_int(napi_env env, int v);
napi_value br_null(napi_env env);
napi_value br_throw_errno(napi_env env, const char *what, int err);
void br_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

void br_init_notify(napi_env env, napi_value exports);
void br_init_udp(napi_env env, napi_value exports);
void br_init_malloc(napi_env env, napi_value exports);
void br_init_heap(napi_env env, napi_value exports);
void br_init_pages(napi_env env, napi_value exports);
void br_init_busypoll(napi_env env, napi_value exports);

#endif
