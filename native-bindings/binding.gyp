# The blackroad_native addon (N-API in C, plus one call of V8's C++ API in heap.cc; no dependencies). Built by
# scripts/build-native.mjs, which npm runs as the root package's "install" script; loaded by src/os/native.ts.
{
  "targets": [
    {
      "target_name": "blackroad_native",
      "sources": ["src/addon.c", "src/notify.c", "src/udp.c", "src/malloc.c", "src/heap.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++17"],
      "conditions": [["OS!='linux'", {"sources!": ["src/udp.c"]}]]
    }
  ]
}
