/* The shared webhook receiver of compare-prometheus.sh: an HTTP/1.1 server on 127.0.0.1 that
 * answers every POST with 200 and, for a body holding "firing", prints one line per
 * `"flip":"N"` in it: `SYSTEM N T`, SYSTEM the request's path without its slash and T the
 * CLOCK_MONOTONIC nanoseconds at which the request was complete. Its first line is its port.
 *
 * A python receiver adds its own scheduling to every system's latency (a p99 of ~4 ms here);
 * one poll loop in C notes an arrival within microseconds, so the tails compared are the
 * systems'. Keep-alive and pipelined requests are served; a connection sending more than
 * 1 MiB without completing a request is closed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_BUF (1 << 20)

struct conn { int fd; char *buf; size_t len; };

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Handles the complete requests at the front of c->buf; returns -1 to close the connection. */
static int serve(struct conn *c) {
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) return c->len > MAX_BUF - 4096 ? -1 : 0;
        size_t head = (size_t)(end - c->buf) + 4, body = 0;
        for (char *p = c->buf; p < end; p++) {
            if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) body = strtoul(p + 15, NULL, 10);
        }
        if (body > MAX_BUF - head) return -1;
        if (c->len < head + body) return 0;
        long long at = now_ns();
        char system[64] = "";
        if (strncmp(c->buf, "POST /", 6) == 0) {
            size_t k = 0;
            for (char *p = c->buf + 6; *p != ' ' && *p != '?' && p < end && k + 1 < sizeof system; p++) system[k++] = *p;
            system[k] = 0;
        }
        char *b = c->buf + head, *stop = b + body;
        if (memmem(b, body, "\"firing\"", 8)) {
            for (char *p = b; (p = memmem(p, (size_t)(stop - p), "\"flip\":\"", 8)) != NULL; p += 8) {
                char *q = p + 8;
                long flip = 0;
                int digits = 0;
                while (q < stop && *q >= '0' && *q <= '9') { flip = flip * 10 + (*q++ - '0'); digits++; }
                if (digits && q < stop && *q == '"') printf("%s %ld %lld\n", system, flip, at);
            }
            fflush(stdout);
        }
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if (write(c->fd, ok, sizeof ok - 1) < 0) return -1;
        memmove(c->buf, c->buf + head + body, c->len - head - body);
        c->len -= head + body;
    }
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
        perror("receiver");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct conn conns[MAX_CONNS];
    struct pollfd pfd[MAX_CONNS + 1];
    int n = 0;
    for (;;) {
        pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (int i = 0; i < n; i++) pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
        if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        for (int i = n - 1; i >= 0; i--) {
            if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            struct conn *c = &conns[i];
            ssize_t r = read(c->fd, c->buf + c->len, MAX_BUF - c->len);
            if (r > 0) c->len += (size_t)r;
            if (r <= 0 || serve(c) < 0) {
                close(c->fd);
                free(c->buf);
                conns[i] = conns[--n];
            }
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0) continue;
            if (n == MAX_CONNS) { close(fd); continue; }
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            conns[n++] = (struct conn){ .fd = fd, .buf = malloc(MAX_BUF), .len = 0 };
        }
    }
}
