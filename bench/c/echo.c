/* Baseline for `make bench`: the limit of the blocking thread-per-connection
 * design. One detached pthread per connection, a 64 KiB buffer, a blocking
 * read/write loop, TCP_NODELAY. Nothing clever on purpose.
 *
 *   gcc -O2 -pthread -o echo echo.c && ./echo 0
 *   listening on 127.0.0.1:PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) break;                   /* EOF: the client is done */
        if (n < 0) {
            if (errno == EINTR) continue;
            break;                           /* reset: drop this client */
        }
        for (ssize_t off = 0; off < n;) {    /* write may be partial */
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                goto done;
            }
            off += w;
        }
    }
done:
    shutdown(fd, SHUT_WR);
    close(fd);
    return NULL;
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
    if (listen(lfd, 4096) < 0) { perror("listen"); return 1; }
    socklen_t len = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &len);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    /* 256 KiB stacks: the 64 KiB buffer fits, and 1000 threads stay cheap. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("accept");
            usleep(100000);                  /* EMFILE: do not spin */
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &attr, serve, (void *)(long)fd) != 0) {
            perror("pthread_create");
            close(fd);
        }
    }
}
