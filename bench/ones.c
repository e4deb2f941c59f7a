/*
 * A service for bench/memory.js: N writes of one byte to /dev/null, one syscall each (what
 * `dd bs=1` does), so a recording of it has about N events.
 *
 * usage: ones N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  int fd = open("/dev/null", O_WRONLY);
  if (fd < 0) return 1;
  for (long i = 0; i < n; i++)
    if (write(fd, "x", 1) != 1) return 1;
  return 0;
}
