/* libuv UDP echo server: udp_echo_server PORT (0 = ephemeral), 127.0.0.1 only.
 * Prints "PORT <n>" once bound; exits cleanly on SIGTERM/SIGINT.
 * Receives with UV_UDP_RECVMMSG, echoes with uv_udp_try_send, falling back to
 * uv_udp_send with a copied buffer when the socket would block. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define RECV_BUF_SIZE (256 * 1024) /* room for several 64 KiB datagrams (recvmmsg) */

static uv_loop_t *loop;
static uv_udp_t udp;
static uv_signal_t sig_term, sig_int;
/* One cached receive buffer: libuv allocates before every read, and a fresh
 * 256 KiB malloc would be an mmap/munmap pair each time. */
static char *cached_buf;

typedef struct {
    uv_udp_send_t req;
    char data[];
} send_req_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    char *p = cached_buf;
    cached_buf = NULL;
    if (!p) p = malloc(RECV_BUF_SIZE);
    *buf = uv_buf_init(p, p ? RECV_BUF_SIZE : 0);
}

static void release_buf(char *p) {
    if (!p) return;
    if (!cached_buf) cached_buf = p;
    else free(p);
}

static void on_sent(uv_udp_send_t *req, int status) {
    if (status < 0 && status != UV_ECANCELED)
        fprintf(stderr, "udp_echo_server: send: %s\n", uv_strerror(status));
    free(req); /* req is the first member of send_req_t */
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
    if (nread < 0) {
        fprintf(stderr, "udp_echo_server: recv: %s\n", uv_strerror((int)nread));
    } else if (nread > 0 && addr != NULL) {
        uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
        int r = uv_udp_try_send(h, &out, 1, addr);
        if (r == UV_EAGAIN) {
            send_req_t *sr = malloc(sizeof *sr + (size_t)nread);
            if (sr) {
                memcpy(sr->data, buf->base, (size_t)nread);
                uv_buf_t copy = uv_buf_init(sr->data, (unsigned)nread);
                r = uv_udp_send(&sr->req, h, &copy, 1, addr, on_sent);
                if (r < 0) {
                    fprintf(stderr, "udp_echo_server: uv_udp_send: %s\n", uv_strerror(r));
                    free(sr);
                }
            }
        } else if (r < 0) {
            fprintf(stderr, "udp_echo_server: uv_udp_try_send: %s\n", uv_strerror(r));
        }
    }
    /* nread == 0 && addr == NULL: nothing to read (or end of an mmsg batch). */
    if ((flags & UV_UDP_MMSG_FREE) || !(flags & UV_UDP_MMSG_CHUNK)) release_buf(buf->base);
}

static void on_signal(uv_signal_t *s, int signum) {
    (void)s;
    (void)signum;
    uv_udp_recv_stop(&udp);
    uv_close((uv_handle_t *)&udp, NULL);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static int fail(const char *what, int r) {
    fprintf(stderr, "udp_echo_server: %s: %s\n", what, uv_strerror(r));
    return 2;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end = NULL;
    long port = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "udp_echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    loop = uv_default_loop();
    int r;
    if ((r = uv_udp_init_ex(loop, &udp, AF_INET | UV_UDP_RECVMMSG)) < 0) return fail("uv_udp_init_ex", r);
    struct sockaddr_in sa;
    if ((r = uv_ip4_addr("127.0.0.1", (int)port, &sa)) < 0) return fail("uv_ip4_addr", r);
    if ((r = uv_udp_bind(&udp, (const struct sockaddr *)&sa, 0)) < 0) return fail("uv_udp_bind", r);
    struct sockaddr_in bound;
    int len = sizeof bound;
    if ((r = uv_udp_getsockname(&udp, (struct sockaddr *)&bound, &len)) < 0) return fail("uv_udp_getsockname", r);
    if ((r = uv_udp_recv_start(&udp, on_alloc, on_recv)) < 0) return fail("uv_udp_recv_start", r);
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    if ((r = uv_signal_start(&sig_term, on_signal, SIGTERM)) < 0) return fail("uv_signal_start", r);
    if ((r = uv_signal_start(&sig_int, on_signal, SIGINT)) < 0) return fail("uv_signal_start", r);

    printf("PORT %d\n", ntohs(bound.sin_port));
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);
    free(cached_buf);
    cached_buf = NULL;
    r = uv_loop_close(loop);
    return r == 0 ? 0 : 1;
}
