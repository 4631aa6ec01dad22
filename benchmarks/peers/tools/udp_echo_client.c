/* UDP echo load generator (plain C, Linux, no deps).
 *
 * usage: udp_echo_client PORT [--clients 50] [--size 100] [--warmup 1]
 *                        [--seconds 5] [--server-pid PID]
 *
 * Opens --clients UDP sockets connect()ed to 127.0.0.1:PORT, each with one
 * datagram in flight. Each datagram starts with an 8-byte sequence number and
 * is followed by a pattern derived from (client, seq); the echo must be
 * byte-identical. A client with no reply for 200 ms sends its next datagram
 * and counts one "lost". Round trips are counted for --seconds after
 * --warmup seconds. Server CPU time (utime+stime from /proc/PID/stat) is read
 * at the start and end of the measured window.
 *
 * Prints: RESULT udp_echo rtt_per_s=... server_user_ns_per_dgram=...
 *         server_sys_ns_per_dgram=... lost=... round_trips=...
 * Exits 2 on any error (message on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOSS_TIMEOUT_NS 200000000LL /* 200 ms */
#define MAX_CLIENTS 10000
#define MAX_SIZE 65507

struct client {
    int fd;
    uint64_t seq;
    int64_t sent_ns;
};

static void die(const char *msg) {
    fprintf(stderr, "udp_echo_client: %s\n", msg);
    exit(2);
}

static void die_errno(const char *what) {
    fprintf(stderr, "udp_echo_client: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long parse_long(const char *s, long lo, long hi, const char *name) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "udp_echo_client: bad value for %s: '%s' (want %ld..%ld)\n",
                name, s, lo, hi);
        exit(2);
    }
    return v;
}

/* utime and stime (clock ticks) of a process; returns 0 on success. */
static int read_cpu_ticks(long pid, unsigned long long *ut, unsigned long long *st) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
    if (!p) return -1;
    /* after ')': field 3 (state) ... field 14 utime, field 15 stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ut, st) != 2)
        return -1;
    return 0;
}

static void fill(unsigned char *buf, size_t size, unsigned idx, uint64_t seq) {
    memcpy(buf, &seq, 8);
    for (size_t i = 8; i < size; i++) buf[i] = (unsigned char)(seq * 31u + idx * 7u + i);
}

static void send_next(struct client *c, unsigned idx, unsigned char *buf, size_t size,
                      int64_t now) {
    c->seq++;
    c->sent_ns = now;
    fill(buf, size, idx, c->seq);
    ssize_t r = send(c->fd, buf, size, 0);
    if (r < 0) {
        /* EAGAIN/ENOBUFS: the datagram is simply lost; the 200 ms timeout resends. */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) return;
        if (errno == ECONNREFUSED) die("send: connection refused (server not running?)");
        die_errno("send");
    }
    if ((size_t)r != size) die("send: short datagram");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s PORT [--clients 50] [--size 100] [--warmup 1] [--seconds 5] "
                "[--server-pid PID]\n",
                argv[0]);
        return 2;
    }
    long port = parse_long(argv[1], 1, 65535, "PORT");
    long nclients = 50, size = 100, warmup = 1, seconds = 5, pid = 0;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) die("option needs a value");
        const char *o = argv[i], *v = argv[++i];
        if (!strcmp(o, "--clients")) nclients = parse_long(v, 1, MAX_CLIENTS, o);
        else if (!strcmp(o, "--size")) size = parse_long(v, 8, MAX_SIZE, o);
        else if (!strcmp(o, "--warmup")) warmup = parse_long(v, 0, 3600, o);
        else if (!strcmp(o, "--seconds")) seconds = parse_long(v, 1, 3600, o);
        else if (!strcmp(o, "--server-pid")) pid = parse_long(v, 1, 1L << 30, o);
        else {
            fprintf(stderr, "udp_echo_client: unknown option %s\n", o);
            return 2;
        }
    }

    struct client *cl = calloc((size_t)nclients, sizeof *cl);
    unsigned char *sbuf = malloc(MAX_SIZE + 1), *rbuf = malloc(MAX_SIZE + 1);
    if (!cl || !sbuf || !rbuf) die("out of memory");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die_errno("epoll_create1");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < nclients; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die_errno("socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die_errno("connect");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die_errno("epoll_ctl");
        cl[i].fd = fd;
        cl[i].seq = (uint64_t)i << 40; /* distinct per client */
    }

    int64_t t0 = now_ns();
    int64_t t_start = t0 + warmup * 1000000000LL;
    int64_t t_end = t_start + seconds * 1000000000LL;
    for (long i = 0; i < nclients; i++) send_next(&cl[i], (unsigned)i, sbuf, (size_t)size, t0);

    int measuring = 0;
    long long round_trips = 0, lost = 0;
    unsigned long long ut0 = 0, st0 = 0, ut1 = 0, st1 = 0;
    int64_t m_start = 0, m_end = 0, next_scan = t0 + 10000000LL;
    struct epoll_event evs[256];

    for (;;) {
        int64_t now = now_ns();
        if (!measuring && now >= t_start) {
            if (pid && read_cpu_ticks(pid, &ut0, &st0) != 0) die("cannot read /proc/PID/stat of --server-pid");
            measuring = 1;
            round_trips = 0;
            lost = 0;
            m_start = now_ns();
        }
        if (now >= t_end) break;
        int n = epoll_wait(ep, evs, 256, 10);
        if (n < 0) {
            if (errno == EINTR) continue;
            die_errno("epoll_wait");
        }
        now = now_ns();
        for (int k = 0; k < n; k++) {
            unsigned idx = evs[k].data.u32;
            struct client *c = &cl[idx];
            for (int tries = 0; tries < 64; tries++) { /* drain, bounded */
                ssize_t r = recv(c->fd, rbuf, MAX_SIZE + 1, 0);
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                    if (errno == ECONNREFUSED) die("recv: connection refused (server gone?)");
                    die_errno("recv");
                }
                uint64_t seq;
                if (r < 8) die("reply shorter than 8 bytes");
                memcpy(&seq, rbuf, 8);
                if (seq != c->seq) continue; /* late echo of a datagram given up on */
                fill(sbuf, (size_t)size, idx, seq);
                if (r != size || memcmp(rbuf, sbuf, (size_t)size) != 0)
                    die("reply differs from the datagram sent");
                if (now < t_end) round_trips++;
                send_next(c, idx, sbuf, (size_t)size, now);
            }
        }
        if (now >= next_scan) {
            next_scan = now + 10000000LL;
            for (long i = 0; i < nclients; i++) {
                if (now - cl[i].sent_ns >= LOSS_TIMEOUT_NS) {
                    lost++;
                    send_next(&cl[i], (unsigned)i, sbuf, (size_t)size, now);
                }
            }
        }
    }
    m_end = now_ns();
    if (pid && read_cpu_ticks(pid, &ut1, &st1) != 0) die("cannot read /proc/PID/stat of --server-pid at end");
    if (round_trips == 0) die("no round trips completed in the measured window");

    double secs = (double)(m_end - m_start) / 1e9;
    double tick_ns = 1e9 / (double)sysconf(_SC_CLK_TCK);
    double user_ns = (double)(ut1 - ut0) * tick_ns, sys_ns = (double)(st1 - st0) * tick_ns;
    printf("RESULT udp_echo rtt_per_s=%.1f server_user_ns_per_dgram=%.1f "
           "server_sys_ns_per_dgram=%.1f lost=%lld round_trips=%lld\n",
           (double)round_trips / secs, user_ns / (double)round_trips,
           sys_ns / (double)round_trips, lost, round_trips);
    fflush(stdout);
    for (long i = 0; i < nclients; i++) close(cl[i].fd);
    close(ep);
    free(cl);
    free(sbuf);
    free(rbuf);
    return 0;
}
