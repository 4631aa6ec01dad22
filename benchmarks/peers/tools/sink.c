/* A TCP sink for benchmarks/peers/sendfile.sh: listens on 127.0.0.1 (port
 * 0), prints "PORT <n>", then accepts connections one after the other and
 * reads each to its end, discarding the bytes (1 MiB reads); prints "GOT
 * <bytes>" per connection on stderr. Ends on SIGTERM. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(l, (struct sockaddr*)&a, sizeof a) || listen(l, 16) || getsockname(l, (struct sockaddr*)&a, &len)) {
    perror("sink");
    return 1;
  }
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  static char buf[1 << 20];
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    unsigned long long got = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) got += (unsigned long long)n;
    fprintf(stderr, "GOT %llu\n", got);
    close(c);
  }
}
