/* Unbuffered baseline for the framing bench: a `length`-framed server that
 * reads each frame the naive way, read(4) for the length then read(len) for
 * the payload, so it makes (at least) 2 read syscalls per frame. It prints
 * every message as `message: TEXT` like the framing lesson (stdio buffers
 * that), serves clients one after another, and closes after a zero length.
 *
 *   gcc -O2 -o frames_unbuffered frames_unbuffered.c && ./frames_unbuffered 0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME (1024 * 1024)

/* read exactly n bytes; 0 on success, -1 on EOF or error */
static int read_exact(int fd, unsigned char *buf, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (lfd < 0) { perror("socket"); return 1; }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (listen(lfd, 128) < 0) { perror("listen"); return 1; }
    socklen_t len = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &len);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    static unsigned char payload[MAX_FRAME];
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) { usleep(100000); continue; }
        for (;;) {
            unsigned char hdr[4];
            if (read_exact(fd, hdr, 4) < 0) break;
            uint32_t n = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
            if (n == 0 || n > MAX_FRAME) break;  /* end, or refused */
            if (read_exact(fd, payload, n) < 0) break;
            printf("message: %.*s\n", (int)n, payload);
        }
        fflush(stdout);
        close(fd);
    }
}
