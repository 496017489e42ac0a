// Busy polling after the bus hands a message on (when and why: src/os/busy-poll.ts). One helper thread per
// process, at SCHED_IDLE: any other task woken on its CPU preempts it at once, so it only fills time in
// which that CPU would otherwise halt. While a deadline (CLOCK_MONOTONIC) lies ahead it spins; then it parks on a
// futex until busyPoll() sets a later one. It does no work itself: it keeps the CPU out of its idle state, so the
// next process woken there (a router, a client, the reply's reader) starts at once. In a virtual machine a halted
// vCPU costs a VM exit and an interrupt to wake, tens of microseconds per wake-up.
//
// The window adapts to the gaps between calls, as the kernel's haltpoll governor adapts its poll time: a gap
// that a longer window would have covered (up to the maximum) doubles it, a gap beyond the maximum halves it,
// down to nothing. So an idle daemon, or one whose messages come further apart than the maximum, never spins; a
// request/reply stream, where the next message comes within a few hundred microseconds, keeps its window open.
// Spinning pays only where each message waits for a wake-up: request/reply, one message per read. So no window
// opens, judged over each millisecond or more of calls, for a saturated event loop (one that spent less than
// half that time waiting in epoll, libuv's idle time: its next input is ready when it looks, nobody is woken)
// nor for pipelined traffic (most bursts carried more than one message: the sender is ahead, and wake-ups
// overlap with work). Spinning under a one-way stream cost 5 to 14 % of its throughput here (likely because a
// CPU running only the SCHED_IDLE thread counts as idle, so wake-ups spread over both CPUs and reads get smaller). Judged over a span, not per call: bursts
// handled in one loop iteration (two sockets ready at once) have no wait between them.
//
//   busyPollStart(maxUs)  sets the maximum window (0 turns spinning off) and starts the thread once: 0 when it
//                         runs, -1 when only one CPU is usable (nothing could run beside the spinner), -2 without
//                         the caller's libuv loop (its idle time decides), else the
//                         errno of pthread_create or of taking SCHED_IDLE (then the thread has ended without
//                         spinning: it never spins at a normal priority)
//   busyPoll(items)       a burst of `items` messages was handled and its output went out: adapts the window
//                         from the gap since the last call, opens it
//   busyPollStats()       [calls, calls inside an open window after waiting, CPU ns spent spinning, window in ns]

#define _GNU_SOURCE
#include "addon.h"

#include <uv.h>

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() __asm__ __volatile__("" ::: "memory")
#endif

#define MIN_WINDOW_NS 20000
#define SPAN_NS 1000000

static _Atomic int64_t deadline_ns;
static atomic_int awake; /* the futex word: 0 while the thread is parked or about to park */
static _Atomic uint64_t spun_ns;
static int running;
static sem_t started;
static int start_err;

/* Touched by the JS thread only. */
static uv_loop_t *loop;
/* The current span: time since its start (the gaps add up to it), calls, calls with more than one message. */
static int64_t span_ns;
static uint64_t span_calls;
static uint64_t span_batched;
static uint64_t span_idle_ns; /* the loop's idle time when the span started */
static int no_spin;           /* the last span was saturated or pipelined */
static int64_t max_ns;
static int64_t window_ns;
static int64_t last_call_ns;
static uint64_t calls;
static uint64_t hits;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *spinner(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "br-busypoll"); /* BUSY_POLL_THREAD in src/os/busy-poll.ts */
  /* Before any spinning: a thread that cannot take the idle policy never spins at a normal priority. */
  struct sched_param p = {0};
  start_err = pthread_setschedparam(pthread_self(), SCHED_IDLE, &p);
  sem_post(&started);
  if (start_err != 0) return NULL;
  for (;;) {
    int64_t t = now_ns();
    if (t < atomic_load(&deadline_ns)) {
      /* CPU time, not wall time: preempted stretches cost nothing. */
      int64_t start = thread_cpu_ns();
      while (now_ns() < atomic_load(&deadline_ns)) CPU_RELAX();
      atomic_fetch_add(&spun_ns, (uint64_t)(thread_cpu_ns() - start));
      continue;
    }
    atomic_store(&awake, 0);
    /* A deadline set between the check above and the store found awake == 1 and woke nobody. */
    if (now_ns() < atomic_load(&deadline_ns)) {
      atomic_store(&awake, 1);
      continue;
    }
    syscall(SYS_futex, &awake, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  }
  return NULL;
}

static int start_thread(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < 2) return -1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  atomic_store(&awake, 1);
  sem_init(&started, 0, 0);
  pthread_t t;
  int err = pthread_create(&t, &attr, spinner, NULL);
  pthread_attr_destroy(&attr);
  if (err != 0) return err;
  /* The thread reports whether it could take SCHED_IDLE (glibc's attributes do not take that policy). */
  while (sem_wait(&started) != 0) {
  }
  return start_err;
}

static napi_value busy_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (br_args(env, info, 1, argv) != 0) return NULL;
  double max_us = 0;
  if (napi_get_value_double(env, argv[0], &max_us) != napi_ok || !(max_us >= 0 && max_us <= 1e6)) {
    napi_throw_range_error(env, "ERR_NATIVE_ARGS", "busyPollStart: expected microseconds from 0 to 1000000");
    return NULL;
  }
  if (loop == NULL && napi_get_uv_event_loop(env, &loop) != napi_ok) loop = NULL;
  if (loop == NULL) return br_int(env, -2);
  max_ns = (int64_t)(max_us * 1000);
  if (window_ns > max_ns) window_ns = max_ns;
  int err = 0;
  if (!running && max_ns > 0) {
    err = start_thread();
    if (err == 0) running = 1;
    /* The first gap and span start now. */
    last_call_ns = now_ns();
    span_idle_ns = uv_metrics_idle_time(loop);
  }
  return br_int(env, err);
}

static napi_value busy_poll(napi_env env, napi_callback_info info) {
  if (!running || max_ns == 0) return NULL;
  size_t argc = 1;
  napi_value arg;
  int32_t items = 1;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) == napi_ok && argc >= 1)
    napi_get_value_int32(env, arg, &items);
  int64_t t = now_ns();
  int64_t gap = t - last_call_ns;
  last_call_ns = t;
  calls++;
  span_calls++;
  if (items > 1) span_batched++;
  span_ns += gap;
  if (span_ns >= SPAN_NS) {
    uint64_t idle = uv_metrics_idle_time(loop);
    no_spin = (int64_t)(idle - span_idle_ns) * 2 < span_ns || span_batched * 2 > span_calls;
    span_idle_ns = idle;
    span_ns = 0;
    span_calls = 0;
    span_batched = 0;
  }
  if (no_spin) {
    window_ns = 0;
  } else if (gap <= window_ns) {
    hits++;
  } else if (gap <= max_ns) {
    window_ns = window_ns < MIN_WINDOW_NS ? MIN_WINDOW_NS : window_ns * 2;
    if (window_ns > max_ns) window_ns = max_ns;
  } else {
    window_ns /= 2;
    if (window_ns < MIN_WINDOW_NS) window_ns = 0;
  }
  if (window_ns == 0) return NULL;
  atomic_store(&deadline_ns, t + window_ns);
  if (atomic_exchange(&awake, 1) == 0) syscall(SYS_futex, &awake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  return NULL;
}

static napi_value busy_poll_stats(napi_env env, napi_callback_info info) {
  (void)info;
  double v[4] = {(double)calls, (double)hits, (double)atomic_load(&spun_ns), (double)window_ns};
  napi_value out, x;
  napi_create_array_with_length(env, 4, &out);
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_double(env, v[i], &x);
    napi_set_element(env, out, i, x);
  }
  return out;
}

void br_init_busypoll(napi_env env, napi_value exports) {
  br_export(env, exports, "busyPollStart", busy_poll_start);
  br_export(env, exports, "busyPoll", busy_poll);
  br_export(env, exports, "busyPollStats", busy_poll_stats);
}
