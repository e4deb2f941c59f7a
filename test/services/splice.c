// Bytes moved inside the kernel between pipes and a socket, none through a file: splice from a
// socket into a pipe, tee that pipe into another, splice it into a third; then read both.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  static const char msg[] = "from a socket\n";
  const size_t len = sizeof msg - 1;
  int sv[2], a[2], b[2], c[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(a) != 0 || pipe(b) != 0 || pipe(c) != 0) return 1;
  if (write(sv[1], msg, len) != (ssize_t)len) return 1;
  ssize_t n1 = splice(sv[0], NULL, a[1], NULL, len, 0);
  ssize_t n2 = tee(a[0], b[1], len, 0);
  ssize_t n3 = splice(a[0], NULL, c[1], NULL, len, 0);
  char x[64] = {0}, y[64] = {0};
  if (read(b[0], x, sizeof x - 1) < 0 || read(c[0], y, sizeof y - 1) < 0) return 1;
  printf("moved %zd %zd %zd\ntee'd: %sspliced: %s", n1, n2, n3, x, y);
  return 0;
}
