/*
 * rtpgen: G.711 RTP load generator and checker for the media bench.
 *
 * It opens 2*N UDP sockets on 127.0.0.1 (one pair per relayed session: the
 * A side and the B side), prints their ports, reads where each one must send
 * (the relay's port facing it), then sends 20 ms G.711 packets (160-byte
 * payload) from every socket and receives them back on the partner socket
 * (2i <-> 2i+1) after they crossed the relay.
 *
 * Sends are paced on a 1 ms absolute tick (clock_nanosleep, CLOCK_MONOTONIC):
 * socket i sends in slot i % 20 of every 20 ms period, so the load is spread
 * instead of bursting 2*N packets at once. Each payload carries the send time;
 * arrival is stamped with the same clock, so the difference
 * is the time spent in the relay plus loopback. Arrival is the kernel's
 * receive timestamp (SO_TIMESTAMPNS), so our own receive-thread wakeup delay
 * is not counted.
 *
 * Protocol on stdio (one line each):
 *   out: PORTS p0 p1 ... p(2N-1)
 *   in:  TARGETS t0 t1 ... t(2N-1)     (0 = this socket does not send)
 *   out: RESULT {json}
 *
 * Usage: rtpgen -n SESSIONS -d DURATION_MS [-w WARMUP_MS] [-r DRAIN_MS]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_BYTES 160
#define RTP_HEADER 12
#define PACKET_BYTES (RTP_HEADER + PAYLOAD_BYTES)
#define PERIOD_MS 20
#define MAGIC 0x424e4348u /* "BNCH" */
/* Latency histogram: 10 us buckets up to 200 ms; beyond that only max is exact. */
#define BUCKET_US 10
#define BUCKETS 20000
#define MAX_SESSIONS 20000

struct sock_state {
  int fd;
  uint16_t port;
  struct sockaddr_in dest;
  int sends;
};

static struct sock_state *socks;
static int nsocks;
static atomic_int stop_rx;
static uint32_t warm_packets;

/* Receiver results (written only by the receiver thread). */
static uint64_t *hist;
static uint64_t rx_counted, rx_warm, rx_late20, rx_misrouted, rx_bad, rx_over_hist;
static uint64_t rx_max_us;
static uint64_t *rx_per_stream;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Payload timestamps use the realtime clock because the kernel's receive
 * timestamps (SO_TIMESTAMPNS) do; a few seconds of NTP slew is negligible. */
static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "rtpgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void *receiver(void *arg) {
  int ep = *(int *)arg;
  struct epoll_event evs[256];
  uint8_t buf[2048];
  while (!atomic_load(&stop_rx)) {
    int n = epoll_wait(ep, evs, 256, 20);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int e = 0; e < n; e++) {
      int idx = (int)evs[e].data.u32;
      int fd = socks[idx].fd;
      for (int guard = 0; guard < 64; guard++) {
        /* The kernel stamps arrival in the socket queue, so a late wakeup of
         * this thread (busy machine) does not count as relay latency. */
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
        union { char c[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c, .msg_controllen = sizeof ctl.c };
        ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (r < 0) break;
        uint64_t t = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
          }
        }
        if (t == 0) t = wall_ns();
        if (r < PACKET_BYTES || get_u32(buf + RTP_HEADER) != MAGIC) { rx_bad++; continue; }
        uint32_t stream = get_u32(buf + RTP_HEADER + 4);
        uint64_t sent = ((uint64_t)get_u32(buf + RTP_HEADER + 8) << 32) | get_u32(buf + RTP_HEADER + 12);
        uint32_t k = get_u32(buf + RTP_HEADER + 16);
        if ((int)stream >= nsocks || (int)(stream ^ 1u) != idx) { rx_misrouted++; continue; }
        if (k < warm_packets) { rx_warm++; continue; }
        rx_counted++;
        rx_per_stream[stream]++;
        uint64_t us = t > sent ? (t - sent) / 1000 : 0;
        if (us > rx_max_us) rx_max_us = us;
        if (us > 20000) rx_late20++;
        uint64_t b = us / BUCKET_US;
        if (b >= BUCKETS) { b = BUCKETS - 1; rx_over_hist++; }
        hist[b]++;
      }
    }
  }
  return NULL;
}

static uint64_t pct_us(uint64_t total, double p) {
  if (total == 0) return 0;
  uint64_t want = (uint64_t)((double)total * p);
  if (want >= total) want = total - 1;
  uint64_t acc = 0;
  for (int i = 0; i < BUCKETS; i++) {
    acc += hist[i];
    if (acc > want) return (uint64_t)i * BUCKET_US + BUCKET_US / 2;
  }
  return rx_max_us;
}

int main(int argc, char **argv) {
  int sessions = 1, duration_ms = 2000, warmup_ms = 500, drain_ms = 300;
  int opt;
  while ((opt = getopt(argc, argv, "n:d:w:r:")) != -1) {
    switch (opt) {
      case 'n': sessions = atoi(optarg); break;
      case 'd': duration_ms = atoi(optarg); break;
      case 'w': warmup_ms = atoi(optarg); break;
      case 'r': drain_ms = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: rtpgen -n SESSIONS -d DURATION_MS [-w WARMUP_MS] [-r DRAIN_MS]\n");
        return 1;
    }
  }
  if (sessions < 1 || sessions > MAX_SESSIONS || duration_ms < PERIOD_MS || warmup_ms < 0 || drain_ms < 0) {
    fprintf(stderr, "rtpgen: bad arguments\n");
    return 1;
  }
  nsocks = sessions * 2;
  socks = calloc((size_t)nsocks, sizeof *socks);
  hist = calloc(BUCKETS, sizeof *hist);
  rx_per_stream = calloc((size_t)nsocks, sizeof *rx_per_stream);
  if (!socks || !hist || !rx_per_stream) die("calloc");

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nsocks; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die("getsockname");
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) die("SO_TIMESTAMPNS");
    socks[i].fd = fd;
    socks[i].port = ntohs(a.sin_port);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }

  printf("PORTS");
  for (int i = 0; i < nsocks; i++) printf(" %u", socks[i].port);
  printf("\n");
  fflush(stdout);

  /* TARGETS line: can be long (20000 * 6 chars), read it token by token. */
  char word[32];
  if (scanf("%31s", word) != 1 || strcmp(word, "TARGETS") != 0) {
    fprintf(stderr, "rtpgen: expected TARGETS\n");
    return 1;
  }
  int senders = 0;
  for (int i = 0; i < nsocks; i++) {
    unsigned port;
    if (scanf("%u", &port) != 1 || port > 65535) {
      fprintf(stderr, "rtpgen: bad TARGETS entry %d\n", i);
      return 1;
    }
    socks[i].dest.sin_family = AF_INET;
    socks[i].dest.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socks[i].dest.sin_port = htons((uint16_t)port);
    socks[i].sends = port != 0;
    senders += socks[i].sends;
  }

  warm_packets = (uint32_t)(warmup_ms / PERIOD_MS);
  uint32_t total_packets = warm_packets + (uint32_t)(duration_ms / PERIOD_MS);

  pthread_t rx;
  if (pthread_create(&rx, NULL, receiver, &ep) != 0) die("pthread_create");

  uint8_t pkt[PACKET_BYTES];
  memset(pkt, 0xff, sizeof pkt); /* PCMU silence */
  pkt[0] = 0x80;
  pkt[1] = 0; /* PT 0 = PCMU */

  uint64_t send_errors = 0, sent_counted = 0, max_lag_us = 0;
  const uint64_t tick_ns = 1000000ull;
  uint64_t start = now_ns() + 5 * tick_ns;
  uint64_t total_ticks = (uint64_t)total_packets * PERIOD_MS;
  for (uint64_t tick = 0; tick < total_ticks; tick++) {
    uint64_t due = start + tick * tick_ns;
    struct timespec ts = { .tv_sec = (time_t)(due / 1000000000ull), .tv_nsec = (long)(due % 1000000000ull) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    uint64_t lag = now_ns();
    lag = lag > due ? (lag - due) / 1000 : 0;
    if (lag > max_lag_us) max_lag_us = lag;
    uint32_t k = (uint32_t)(tick / PERIOD_MS);
    int slot = (int)(tick % PERIOD_MS);
    for (int i = slot; i < nsocks; i += PERIOD_MS) {
      if (!socks[i].sends) continue;
      pkt[2] = (uint8_t)(k >> 8); pkt[3] = (uint8_t)k;
      put_u32(pkt + 4, k * 160u);
      put_u32(pkt + 8, (uint32_t)i);
      put_u32(pkt + RTP_HEADER, MAGIC);
      put_u32(pkt + RTP_HEADER + 4, (uint32_t)i);
      put_u32(pkt + RTP_HEADER + 16, k);
      uint64_t t = wall_ns();
      put_u32(pkt + RTP_HEADER + 8, (uint32_t)(t >> 32));
      put_u32(pkt + RTP_HEADER + 12, (uint32_t)t);
      ssize_t w = sendto(socks[i].fd, pkt, sizeof pkt, 0, (struct sockaddr *)&socks[i].dest, sizeof socks[i].dest);
      if (w != (ssize_t)sizeof pkt) send_errors++;
      else if (k >= warm_packets) sent_counted++;
    }
  }
  struct timespec drain = { .tv_sec = drain_ms / 1000, .tv_nsec = (long)(drain_ms % 1000) * 1000000L };
  nanosleep(&drain, NULL);
  atomic_store(&stop_rx, 1);
  pthread_join(rx, NULL);

  uint64_t silent_streams = 0;
  for (int i = 0; i < nsocks; i++)
    if (socks[i].sends && rx_per_stream[i] == 0) silent_streams++;
  uint64_t lost = sent_counted > rx_counted ? sent_counted - rx_counted : 0;
  printf("RESULT {\"sessions\":%d,\"streams\":%d,\"durationMs\":%d,\"sent\":%llu,\"received\":%llu,\"lost\":%llu,"
         "\"late20\":%llu,\"p50Us\":%llu,\"p99Us\":%llu,\"p999Us\":%llu,\"maxUs\":%llu,\"misrouted\":%llu,"
         "\"bad\":%llu,\"sendErrors\":%llu,\"silentStreams\":%llu,\"generatorMaxLagUs\":%llu}\n",
         sessions, senders, duration_ms, (unsigned long long)sent_counted, (unsigned long long)rx_counted,
         (unsigned long long)lost, (unsigned long long)rx_late20, (unsigned long long)pct_us(rx_counted, 0.50),
         (unsigned long long)pct_us(rx_counted, 0.99), (unsigned long long)pct_us(rx_counted, 0.999),
         (unsigned long long)rx_max_us, (unsigned long long)rx_misrouted, (unsigned long long)rx_bad,
         (unsigned long long)send_errors, (unsigned long long)silent_streams, (unsigned long long)max_lag_us);
  fflush(stdout);
  return 0;
}
