/*
 * nfqdelay: holds packets from NFQUEUE queues for a configurable time, then lets them go.
 *
 * Why it exists: the test machines' kernel has no sch_netem, so `tc qdisc ... netem delay` is not available.
 * The netns test harness (netns-tests/lib/faults.ts) instead sends a link's packets to an NFQUEUE with iptables
 * (mangle POSTROUTING -o IF and PREROUTING -i IF) and runs one nfqdelay per link inside the link's namespace.
 * Queue numbers are per network namespace.
 *
 * usage: nfqdelay QNUM:DELAY_US[:JITTER_US] [...]      (at most MAX_QUEUES queues)
 *
 * Behaviour:
 *   - each queue is FIFO: a packet is released no earlier than its due time and never before a packet queued
 *     ahead of it, so jitter never reorders packets (like netem with a rate, unlike plain netem jitter);
 *   - due = arrival + delay + uniform(-jitter, +jitter), clamped to >= arrival;
 *   - when a queue's ring is full, packets pass undelayed (counted as "overflow"), never dropped: the harness
 *     models loss separately with iptables, and a delay program that silently drops would fake loss;
 *   - the kernel side is set to fail open too, so a burst larger than the kernel queue is not dropped.
 *
 * Control (stdin, one command per line; each answered with one line on stdout):
 *   delay QNUM DELAY_US [JITTER_US]   -> "ok delay QNUM DELAY_US JITTER_US"  (applies to packets arriving next)
 *   stats                             -> "stats QNUM packets overflow queued ..." for every queue
 * End of file on stdin means the harness is gone: release everything held and exit. So does SIGTERM/SIGINT,
 * and the death of the parent process (PR_SET_PDEATHSIG), so a crashed test never leaves a holder behind.
 *
 * "ready" is printed on stdout once every queue is bound; the harness waits for it before adding iptables
 * rules, so no packet is ever sent to a queue nobody listens on.
 *
 * Build (scripts/ensure-deps.sh does this): gcc -O2 -o nfqdelay nfqdelay.c -lnetfilter_queue -lnfnetlink
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUES 8
#define RING_SLOTS 32768u /* power of two: indices wrap with a mask */
#define NS_PER_US 1000LL

struct held {
  uint32_t id;
  int64_t due_ns;
};

struct queue {
  struct nfq_q_handle *qh;
  unsigned num;
  int64_t delay_ns;
  int64_t jitter_ns;
  int64_t last_due_ns; /* due time of the newest held packet: keeps FIFO order under jitter */
  struct held ring[RING_SLOTS];
  uint32_t head, tail; /* tail - head = packets held */
  unsigned long packets, overflow;
};

static struct queue queues[MAX_QUEUES];
static int nqueues;
static volatile sig_atomic_t stopping;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*: jitter needs spread, not cryptographic quality */
static uint64_t rng_next(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static struct queue *find_queue(unsigned num) {
  for (int i = 0; i < nqueues; i++)
    if (queues[i].num == num) return &queues[i];
  return NULL;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg;
  struct queue *q = data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  uint32_t id = ntohl(ph->packet_id);
  q->packets++;
  if (q->tail - q->head >= RING_SLOTS) {
    q->overflow++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  }
  int64_t arrival = now_ns();
  int64_t extra = q->delay_ns;
  if (q->jitter_ns > 0) extra += (int64_t)(rng_next() % (uint64_t)(2 * q->jitter_ns + 1)) - q->jitter_ns;
  if (extra < 0) extra = 0;
  int64_t due = arrival + extra;
  if (q->tail != q->head && due < q->last_due_ns) due = q->last_due_ns;
  q->last_due_ns = due;
  q->ring[q->tail & (RING_SLOTS - 1)] = (struct held){.id = id, .due_ns = due};
  q->tail++;
  return 0;
}

/* Accept every held packet whose time has come (or all of them when flushing); returns the earliest due time
 * still held, or -1 when nothing is held. */
static int64_t release(int flush_all) {
  int64_t t = now_ns(), next = -1;
  for (int i = 0; i < nqueues; i++) {
    struct queue *q = &queues[i];
    while (q->head != q->tail) {
      struct held *h = &q->ring[q->head & (RING_SLOTS - 1)];
      if (!flush_all && h->due_ns > t) {
        if (next < 0 || h->due_ns < next) next = h->due_ns;
        break;
      }
      nfq_set_verdict(q->qh, h->id, NF_ACCEPT, 0, NULL);
      q->head++;
    }
  }
  return next;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}

static void run_command(char *line) {
  unsigned num;
  long long delay_us, jitter_us = 0;
  int n;
  if ((n = sscanf(line, "delay %u %lld %lld", &num, &delay_us, &jitter_us)) >= 2) {
    struct queue *q = find_queue(num);
    if (q == NULL || delay_us < 0 || jitter_us < 0 || delay_us > 60000000LL || jitter_us > 60000000LL) {
      reply("error delay: unknown queue or value out of range: %s\n", line);
      return;
    }
    q->delay_ns = delay_us * NS_PER_US;
    q->jitter_ns = n == 3 ? jitter_us * NS_PER_US : 0;
    reply("ok delay %u %lld %lld\n", num, delay_us, (long long)(q->jitter_ns / NS_PER_US));
  } else if (strcmp(line, "stats") == 0) {
    for (int i = 0; i < nqueues; i++)
      reply("stats %u packets %lu overflow %lu queued %u\n", queues[i].num, queues[i].packets, queues[i].overflow,
            queues[i].tail - queues[i].head);
  } else if (line[0] != '\0') {
    reply("error unknown command: %s\n", line);
  }
}

/* Reads what is available on stdin and runs complete lines. Returns 0 on end of file. */
static int read_commands(void) {
  static char buf[1024];
  static size_t used;
  ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
  if (n == 0) return 0;
  if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
  used += (size_t)n;
  buf[used] = '\0';
  char *start = buf, *nl;
  while ((nl = strchr(start, '\n')) != NULL) {
    *nl = '\0';
    run_command(start);
    start = nl + 1;
  }
  used -= (size_t)(start - buf);
  memmove(buf, start, used);
  if (used == sizeof buf - 1) used = 0; /* an over-long line is garbage: drop it */
  return 1;
}

static int parse_spec(const char *arg, struct queue *q) {
  unsigned num;
  long long delay_us, jitter_us = 0;
  int n = sscanf(arg, "%u:%lld:%lld", &num, &delay_us, &jitter_us);
  if (n < 2 || num > 65535 || delay_us < 0 || jitter_us < 0) return -1;
  q->num = num;
  q->delay_ns = delay_us * NS_PER_US;
  q->jitter_ns = jitter_us * NS_PER_US;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc - 1 > MAX_QUEUES) {
    fprintf(stderr, "usage: %s QNUM:DELAY_US[:JITTER_US] ... (1 to %d queues)\n", argv[0], MAX_QUEUES);
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  prctl(PR_SET_TIMERSLACK, 1UL); /* default 50 us slack would add visible delay error at small delays */
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  rng_state ^= (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);

  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    perror("nfqdelay: nfq_open");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    struct queue *q = &queues[nqueues];
    if (parse_spec(argv[i], q) != 0) {
      fprintf(stderr, "nfqdelay: bad queue spec '%s' (want QNUM:DELAY_US[:JITTER_US])\n", argv[i]);
      return 2;
    }
    if (find_queue(q->num) != NULL) {
      fprintf(stderr, "nfqdelay: queue %u given twice\n", q->num);
      return 2;
    }
    q->qh = nfq_create_queue(h, (uint16_t)q->num, &on_packet, q);
    if (q->qh == NULL) {
      fprintf(stderr, "nfqdelay: cannot bind queue %u (already bound by another program?)\n", q->num);
      return 1;
    }
    /* metadata only: we never look at payloads, and copying them would cost CPU on a 2-core box */
    if (nfq_set_mode(q->qh, NFQNL_COPY_META, 0) < 0) {
      perror("nfqdelay: nfq_set_mode");
      return 1;
    }
    nfq_set_queue_maxlen(q->qh, RING_SLOTS);
    uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
    nfq_set_queue_flags(q->qh, flags, flags);
    nqueues++;
  }
  int fd = nfq_fd(h);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 * 1024 * 1024);
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

  reply("ready %d\n", nqueues);

  static char buf[65536] __attribute__((aligned));
  unsigned long enobufs = 0;
  int stdin_open = 1;
  while (!stopping && stdin_open) {
    int64_t next = release(0);
    struct timespec wait = {1, 0}; /* idle wake-up: bounded even if a signal is missed */
    if (next >= 0) {
      int64_t w = next - now_ns();
      if (w < 0) w = 0;
      wait.tv_sec = w / 1000000000LL;
      wait.tv_nsec = w % 1000000000LL;
    }
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    int r = ppoll(p, 2, &wait, NULL);
    if (r <= 0) continue;
    if (p[0].revents & POLLIN) {
      for (int k = 0; k < 256; k++) { /* drain a burst, bounded so held packets are released on time */
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
          if (errno == ENOBUFS) {
            enobufs++;
            continue;
          }
          break;
        }
        nfq_handle_packet(h, buf, (int)n);
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) stdin_open = read_commands();
  }
  release(1);
  for (int i = 0; i < nqueues; i++) {
    fprintf(stderr, "nfqdelay: queue %u delay %lldus jitter %lldus packets %lu overflow %lu\n", queues[i].num,
            (long long)(queues[i].delay_ns / NS_PER_US), (long long)(queues[i].jitter_ns / NS_PER_US),
            queues[i].packets, queues[i].overflow);
    nfq_destroy_queue(queues[i].qh);
  }
  if (enobufs > 0) fprintf(stderr, "nfqdelay: %lu netlink overruns (packets held by the kernel until exit)\n", enobufs);
  nfq_close(h);
  return 0;
}
