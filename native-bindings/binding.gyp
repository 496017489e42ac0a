# The blackroad_native N-API addon (C only, no dependencies). Built by scripts/build-native.mjs, which npm runs
# as the root package's "install" script; loaded by src/os/native.ts.
{
  "targets": [
    {
      "target_name": "blackroad_native",
      "sources": ["src/addon.c", "src/notify.c", "src/udp.c", "src/malloc.c", "src/heap.c", "src/pages.c", "src/busypoll.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-ldl", "-lpthread"],
      "conditions": [["OS!='linux'", {"sources!": ["src/udp.c", "src/busypoll.c"]}]]
    }
  ]
}
