// sd_notify(3) without libsystemd: one datagram with the state lines to $NOTIFY_SOCKET (a path, or an abstract
// socket when it starts with '@'). The JS side passes the socket address, so tests can point it anywhere.
// Also a tiny receiving end (bind, non-blocking receive, close) so tests can play systemd's part for real.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"

/* Fills a sockaddr_un from a NOTIFY_SOCKET value; returns its length, or -1 when it is not usable. */
static int unix_address(const char *s, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(s);
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof(sa->sun_path)) return -1;
  if (s[0] != '/' && s[0] != '@') return -1;
  memcpy(sa->sun_path, s, n);
  if (s[0] == '@') sa->sun_path[0] = '\0';
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/' ? 1 : 0));
  return 0;
}

/* sdNotify(socket: string, state: string): 0, or the errno of what failed. */
static napi_value sd_notify(napi_env env, napi_callback_info info) {
  char sock[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char state[4096];
  napi_value argv[2];
  if (br_args(env, info, 2, argv) != 0) return NULL;
  if (br_string(env, argv[0], sock, sizeof(sock)) != 0) return NULL;
  if (br_string(env, argv[1], state, sizeof(state)) != 0) return NULL;

  struct sockaddr_un sa;
  socklen_t salen = 0;
  if (unix_address(sock, &sa, &salen) != 0) return br_int(env, EINVAL);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return br_int(env, errno);
  struct iovec iov = {.iov_base = state, .iov_len = strlen(state)};
  struct msghdr msg = {.msg_name = &sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1};
  int err = 0;
  if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0) err = errno;
  close(fd);
  return br_int(env, err);
}

/* notifyListen(socket: string): a bound, non-blocking datagram socket's fd (throws on failure). */
static napi_value notify_listen(napi_env env, napi_callback_info info) {
  char sock[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  napi_value argv[1];
  if (br_args(env, info, 1, argv) != 0) return NULL;
  if (br_string(env, argv[0], sock, sizeof(sock)) != 0) return NULL;
  struct sockaddr_un sa;
  socklen_t salen = 0;
  if (unix_address(sock, &sa, &salen) != 0) return br_throw_errno(env, "notifyListen", EINVAL);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return br_throw_errno(env, "socket", errno);
  if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
    int e = errno;
    close(fd);
    return br_throw_errno(env, "bind", e);
  }
  return br_int(env, fd);
}

/* notifyRecv(fd: number): the next datagram as a string, or null when none is waiting. */
static napi_value notify_recv(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  char buf[4096];
  if (br_args(env, info, 1, argv) != 0) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return NULL;
  ssize_t n;
  do n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return br_null(env);
    return br_throw_errno(env, "recv", errno);
  }
  napi_value s;
  napi_create_string_utf8(env, buf, (size_t)n, &s);
  return s;
}

/* closeFd(fd: number): closes a descriptor notifyListen returned. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (br_args(env, info, 1, argv) != 0) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return NULL;
  close(fd);
  return NULL;
}

void br_init_notify(napi_env env, napi_value exports) {
  br_export(env, exports, "sdNotify", sd_notify);
  br_export(env, exports, "notifyListen", notify_listen);
  br_export(env, exports, "notifyRecv", notify_recv);
  br_export(env, exports, "closeFd", close_fd);
}
