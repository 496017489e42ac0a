// Batched UDP for the mesh DNS server (Linux): a bound UDP socket watched with uv_poll on Node's own event loop.
// When it is readable, recvmmsg takes up to BR_BATCH datagrams into one buffer the JS side owns, JS is called once
// for the whole batch and writes its answers into a second buffer, and sendmmsg sends them all back to the
// sources. Per packet that is no allocation and no syscall of its own, against one 64 KiB buffer and one
// recvmsg + one sendmsg in Node's dgram. A few batches per wake-up at most, so the event loop stays fair.
//
// Shared layout (JS allocates, we keep references for the socket's life):
//   in      BR_BATCH * BR_SLOT bytes; datagram i at i * BR_SLOT
//   lens    Int32Array(BR_BATCH); lens[i] = length of datagram i, -1 if it did not fit a slot
//   out     BR_BATCH * BR_SLOT bytes; answer j at j * BR_SLOT
//   outInfo Int32Array(2 * BR_BATCH); [2j] = length of answer j, [2j + 1] = index of the datagram it answers
// onBatch(n) returns how many answers it wrote.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"

#define BR_BATCH 64
#define BR_SLOT 4096
/* Batches per readiness callback before yielding to the rest of the loop. */
#define BR_ROUNDS 8

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int closing;
  napi_ref self, on_batch, in_ref, lens_ref, out_ref, info_ref;
  napi_async_context async;
  uint8_t *in, *out;
  int32_t *lens, *info;
  struct mmsghdr rmsg[BR_BATCH];
  struct iovec riov[BR_BATCH];
  struct sockaddr_storage raddr[BR_BATCH];
  struct mmsghdr smsg[BR_BATCH];
  struct iovec siov[BR_BATCH];
} br_udp;

static int data_of(napi_env env, napi_value v, size_t want, void **data) {
  size_t len = 0;
  bool is_buf = false, is_ta = false;
  napi_is_buffer(env, v, &is_buf);
  napi_is_typedarray(env, v, &is_ta);
  if (is_buf) {
    napi_get_buffer_info(env, v, data, &len);
  } else if (is_ta) {
    napi_typedarray_type t;
    size_t n;
    napi_get_typedarray_info(env, v, &t, &n, data, NULL, NULL);
    len = n * 4;
  }
  if (len < want || *data == NULL) {
    napi_throw_range_error(env, "ERR_NATIVE_ARGS", "blackroad_native: batch buffer too small");
    return -1;
  }
  return 0;
}

static int parse_ip(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*a6);
    return AF_INET6;
  }
  return -1;
}

static void flush_answers(br_udp *u, int m, int n) {
  int k = 0;
  for (int j = 0; j < m; j++) {
    int len = u->info[2 * j], src = u->info[2 * j + 1];
    if (len <= 0 || len > BR_SLOT || src < 0 || src >= n) continue;
    u->siov[k].iov_base = u->out + (size_t)j * BR_SLOT;
    u->siov[k].iov_len = (size_t)len;
    memset(&u->smsg[k].msg_hdr, 0, sizeof(u->smsg[k].msg_hdr));
    u->smsg[k].msg_hdr.msg_name = &u->raddr[src];
    u->smsg[k].msg_hdr.msg_namelen = u->rmsg[src].msg_hdr.msg_namelen;
    u->smsg[k].msg_hdr.msg_iov = &u->siov[k];
    u->smsg[k].msg_hdr.msg_iovlen = 1;
    k++;
  }
  /* Bounded: each pass sends at least one answer or skips the one the kernel refused. */
  int sent = 0;
  for (int pass = 0; sent < k && pass <= k; pass++) {
    int r = sendmmsg(u->fd, u->smsg + sent, (unsigned)(k - sent), MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break; /* socket buffer full: drop the rest, as a busy server must (clients retry) */
    } else if (errno != EINTR) {
      sent++; /* this destination failed (e.g. EPERM from a firewall): skip it */
    }
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  br_udp *u = handle->data;
  if (status < 0 || u->closing) return;
  napi_env env = u->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value self, cb;
  napi_get_reference_value(env, u->self, &self);
  napi_get_reference_value(env, u->on_batch, &cb);
  for (int round = 0; round < BR_ROUNDS && !u->closing; round++) {
    for (int i = 0; i < BR_BATCH; i++) {
      u->riov[i].iov_base = u->in + (size_t)i * BR_SLOT;
      u->riov[i].iov_len = BR_SLOT;
      memset(&u->rmsg[i].msg_hdr, 0, sizeof(u->rmsg[i].msg_hdr));
      u->rmsg[i].msg_hdr.msg_name = &u->raddr[i];
      u->rmsg[i].msg_hdr.msg_namelen = sizeof(u->raddr[i]);
      u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
      u->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(u->fd, u->rmsg, BR_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break; /* EAGAIN (drained), EINTR or a queued ICMP error: wait for the next wake-up */
    for (int i = 0; i < n; i++) {
      u->lens[i] = (u->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)u->rmsg[i].msg_len;
    }
    napi_value arg, result;
    napi_create_int32(env, n, &arg);
    napi_status st = napi_make_callback(env, u->async, self, cb, 1, &arg, &result);
    if (st != napi_ok) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
      break;
    }
    int32_t m = 0;
    if (napi_get_value_int32(env, result, &m) != napi_ok) m = 0;
    if (m > BR_BATCH) m = BR_BATCH;
    if (m > 0 && !u->closing) flush_answers(u, m, n);
    if (n < BR_BATCH) break;
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle) {
  br_udp *u = handle->data;
  close(u->fd);
  napi_delete_reference(u->env, u->on_batch);
  napi_delete_reference(u->env, u->in_ref);
  napi_delete_reference(u->env, u->lens_ref);
  napi_delete_reference(u->env, u->out_ref);
  napi_delete_reference(u->env, u->info_ref);
  napi_delete_reference(u->env, u->self);
  napi_async_destroy(u->env, u->async);
  free(u);
}

static br_udp *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_NATIVE_ARGS", "blackroad_native: not a UDP handle");
    return NULL;
  }
  return p;
}

/*
 * udpOpen(host, port, rcvbuf, in, lens, out, outInfo, onBatch): binds host:port (a literal IP; port 0 picks one)
 * and starts receiving. Returns [handle, boundPort]; throws with the errno text on failure.
 */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  char host[64];
  int32_t port, rcvbuf;
  if (br_args(env, info, 8, argv) != 0) return NULL;
  if (br_string(env, argv[0], host, sizeof(host)) != 0) return NULL;
  napi_get_value_int32(env, argv[1], &port);
  napi_get_value_int32(env, argv[2], &rcvbuf);
  void *in, *lens, *out, *outinfo;
  if (data_of(env, argv[3], BR_BATCH * BR_SLOT, &in) || data_of(env, argv[4], BR_BATCH * 4, &lens) ||
      data_of(env, argv[5], BR_BATCH * BR_SLOT, &out) || data_of(env, argv[6], 2 * BR_BATCH * 4, &outinfo))
    return NULL;
  struct sockaddr_storage ss;
  socklen_t sslen;
  int family = parse_ip(host, port, &ss, &sslen);
  if (family < 0 || port < 0 || port > 65535) return br_throw_errno(env, "udpOpen", EINVAL);
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return br_throw_errno(env, "socket", errno);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
    int e = errno;
    close(fd);
    return br_throw_errno(env, "bind", e);
  }
  struct sockaddr_storage got;
  socklen_t gotlen = sizeof(got);
  getsockname(fd, (struct sockaddr *)&got, &gotlen);
  int bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                      : ((struct sockaddr_in6 *)&got)->sin6_port);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    return br_throw_errno(env, "uv loop", EINVAL);
  }
  br_udp *u = calloc(1, sizeof(*u));
  if (u == NULL) {
    close(fd);
    return br_throw_errno(env, "udpOpen", ENOMEM);
  }
  u->env = env;
  u->fd = fd;
  u->in = in;
  u->lens = lens;
  u->out = out;
  u->info = outinfo;
  int rc = uv_poll_init(loop, &u->poll, fd);
  if (rc != 0) {
    close(fd);
    free(u);
    return br_throw_errno(env, "uv_poll_init", -rc);
  }
  u->poll.data = u;
  napi_value handle, name;
  napi_create_external(env, u, NULL, NULL, &handle);
  napi_create_reference(env, handle, 1, &u->self);
  napi_create_reference(env, argv[7], 1, &u->on_batch);
  napi_create_reference(env, argv[3], 1, &u->in_ref);
  napi_create_reference(env, argv[4], 1, &u->lens_ref);
  napi_create_reference(env, argv[5], 1, &u->out_ref);
  napi_create_reference(env, argv[6], 1, &u->info_ref);
  napi_create_string_utf8(env, "blackroad:dns-udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &u->async);
  uv_poll_start(&u->poll, UV_READABLE, on_poll);

  napi_value arr, p;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, handle);
  napi_create_int32(env, bound, &p);
  napi_set_element(env, arr, 1, p);
  return arr;
}

/* udpPeer(handle, i): a copy of datagram i's source address, for answering it later (only during onBatch). */
static napi_value udp_peer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t i;
  if (br_args(env, info, 2, argv) != 0) return NULL;
  br_udp *u = unwrap(env, argv[0]);
  if (u == NULL) return NULL;
  napi_get_value_int32(env, argv[1], &i);
  if (i < 0 || i >= BR_BATCH) return br_throw_errno(env, "udpPeer", EINVAL);
  napi_value buf;
  void *data;
  size_t len = u->rmsg[i].msg_hdr.msg_namelen;
  if (len > sizeof(struct sockaddr_storage)) len = sizeof(struct sockaddr_storage);
  napi_create_buffer_copy(env, len, &u->raddr[i], &data, &buf);
  return buf;
}

/* udpSendTo(handle, data, peer): one datagram to a udpPeer address; 0 or the errno (never throws on I/O). */
static napi_value udp_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (br_args(env, info, 3, argv) != 0) return NULL;
  br_udp *u = unwrap(env, argv[0]);
  if (u == NULL) return NULL;
  if (u->closing) return br_int(env, EBADF);
  void *data, *peer;
  size_t len, plen;
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta) return br_throw_errno(env, "udpSendTo", EINVAL);
  napi_get_typedarray_info(env, argv[1], NULL, &len, &data, NULL, NULL);
  if (napi_get_buffer_info(env, argv[2], &peer, &plen) != napi_ok || plen == 0) {
    return br_throw_errno(env, "udpSendTo", EINVAL);
  }
  ssize_t r;
  do r = sendto(u->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)peer, (socklen_t)plen);
  while (r < 0 && errno == EINTR);
  return br_int(env, r < 0 ? errno : 0);
}

/* udpClose(handle): stops receiving; the socket is closed and the buffers released on the loop's next turn. */
static napi_value udp_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (br_args(env, info, 1, argv) != 0) return NULL;
  br_udp *u = unwrap(env, argv[0]);
  if (u == NULL || u->closing) return NULL;
  u->closing = 1;
  uv_poll_stop(&u->poll);
  uv_close((uv_handle_t *)&u->poll, on_closed);
  return NULL;
}

void br_init_udp(napi_env env, napi_value exports) {
  br_export(env, exports, "udpOpen", udp_open);
  br_export(env, exports, "udpPeer", udp_peer);
  br_export(env, exports, "udpSendTo", udp_send_to);
  br_export(env, exports, "udpClose", udp_close);
  napi_value v;
  napi_create_int32(env, BR_BATCH, &v);
  napi_set_named_property(env, exports, "udpBatch", v);
  napi_create_int32(env, BR_SLOT, &v);
  napi_set_named_property(env, exports, "udpSlot", v);
}
