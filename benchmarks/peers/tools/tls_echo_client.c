// tls_echo_client.c -- the tcp_echo load generator (../../shared/bench/tools/
// echo_client.c) over TLS: C connections to HOST:PORT, each sending a
// MSG-byte message and waiting for it to come back before the next one;
// TLS 1.3 with TLS_AES_128_GCM_SHA256, the certificate not verified (a
// benchmark, on loopback). Single thread, level-triggered epoll; the
// handshakes are made before the measured window.
//
// usage: tls_echo_client HOST PORT CONNS MSG_BYTES WARMUP_S DURATION_S [SERVER_PID]
//        tls_echo_client --handshakes HOST PORT SECONDS
// Prints one line:
//   RESULT workload=tls_echo conns=.. msg_bytes=.. seconds=.. messages=.. msgs_per_s=..
//          server_cpu=.. server_ns_per_msg=..
//   RESULT workload=tls_handshake seconds=.. handshakes=.. per_s=..
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* utime + stime of PID in clock ticks, or -1. */
static long long cpu_ticks(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char* p = strrchr(buf, ')');
  if (!p) return -1;
  long long ut = 0, st = 0;
  /* fields after ')': state(3) ... utime(14) stime(15) */
  int field = 2;
  for (char* tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
    ++field;
    if (field == 14) ut = atoll(tok);
    if (field == 15) { st = atoll(tok); break; }
  }
  return ut + st;
}

static SSL_CTX* client_ctx(void) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  return ctx;
}

/* A blocking TCP connection with a finished handshake, or NULL. */
static SSL* tls_connect(SSL_CTX* ctx, const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) { close(fd); return NULL; }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_connect(ssl) != 1) { SSL_free(ssl); close(fd); return NULL; }
  return ssl;
}

static int handshakes(const char* host, int port, double seconds) {
  SSL_CTX* ctx = client_ctx();
  uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
  long n = 0;
  while (now_ns() < end) {
    SSL* ssl = tls_connect(ctx, host, port);
    if (!ssl) { fprintf(stderr, "handshake failed\n"); return 1; }
    int fd = SSL_get_fd(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    ++n;
  }
  double s = (now_ns() - start) / 1e9;
  printf("RESULT workload=tls_handshake seconds=%.3f handshakes=%ld per_s=%.0f\n", s, n, n / s);
  return 0;
}

struct conn { SSL* ssl; int got; };

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "--handshakes") == 0) return handshakes(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc < 7) {
    fprintf(stderr, "usage: %s HOST PORT CONNS MSG_BYTES WARMUP_S DURATION_S [SERVER_PID]\n", argv[0]);
    return 2;
  }
  const char* host = argv[1];
  int port = atoi(argv[2]), nconn = atoi(argv[3]), msglen = atoi(argv[4]);
  double warmup = atof(argv[5]), duration = atof(argv[6]);
  int server_pid = argc > 7 ? atoi(argv[7]) : 0;
  SSL_CTX* ctx = client_ctx();
  struct conn* conns = calloc((size_t)nconn, sizeof *conns);
  char* msg = malloc((size_t)msglen);
  char* buf = malloc(65536);
  memset(msg, 'x', (size_t)msglen);
  int ep = epoll_create1(0);
  for (int i = 0; i < nconn; ++i) {
    conns[i].ssl = tls_connect(ctx, host, port);
    if (!conns[i].ssl) { fprintf(stderr, "connect/handshake failed\n"); return 1; }
    int fd = SSL_get_fd(conns[i].ssl);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    SSL_write(conns[i].ssl, msg, msglen);
  }
  uint64_t t0 = now_ns(), measure_from = t0 + (uint64_t)(warmup * 1e9);
  uint64_t end = measure_from + (uint64_t)(duration * 1e9), measured_start = 0;
  long long ticks0 = -1;
  long messages = 0;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (!measured_start && t >= measure_from) {
      measured_start = t;
      messages = 0;
      if (server_pid) ticks0 = cpu_ticks(server_pid);
    }
    if (t >= end) break;
    int n = epoll_wait(ep, evs, 256, 100);
    for (int k = 0; k < n; ++k) {
      struct conn* c = &conns[evs[k].data.u32];
      for (;;) {
        int r = SSL_read(c->ssl, buf, 65536);
        if (r <= 0) {
          int e = SSL_get_error(c->ssl, r);
          if (e == SSL_ERROR_WANT_READ) break;
          fprintf(stderr, "read failed (%d)\n", e);
          return 1;
        }
        c->got += r;
        if (c->got >= msglen) {
          c->got -= msglen;
          ++messages;
          SSL_write(c->ssl, msg, msglen);
        }
      }
    }
  }
  double secs = (now_ns() - measured_start) / 1e9;
  double server_cpu = 0, ns_per_msg = 0;
  if (server_pid && ticks0 >= 0) {
    double cpu_s = (double)(cpu_ticks(server_pid) - ticks0) / (double)sysconf(_SC_CLK_TCK);
    server_cpu = cpu_s / secs;
    ns_per_msg = messages ? cpu_s * 1e9 / (double)messages : 0;
  }
  printf("RESULT workload=tls_echo conns=%d msg_bytes=%d seconds=%.3f messages=%ld msgs_per_s=%.0f "
         "server_cpu=%.2f server_ns_per_msg=%.0f\n",
         nconn, msglen, secs, messages, messages / secs, server_cpu, ns_per_msg);
  return 0;
}
