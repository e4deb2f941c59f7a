/*
 * A program whose timing matters, for bench/timing.js: ten rounds of read the clock, sleep 20 ms
 * (a blocking call), compute for a few milliseconds (no syscall: userspace time the replay must
 * spend again), and print a line. About 250 ms in all, with gaps of both kinds between syscalls.
 *
 * usage: gaps [rounds] [sleep_ms] [work]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 10;
  long sleep_ms = argc > 2 ? atol(argv[2]) : 20;
  long work = argc > 3 ? atol(argv[3]) : 6000000;
  volatile unsigned long acc = 1;
  for (int r = 0; r < rounds; r++) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec nap = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000L };
    nanosleep(&nap, NULL);
    for (long i = 0; i < work; i++) acc = acc * 6364136223846793005UL + 1442695040888963407UL;
    char line[96];
    int n = snprintf(line, sizeof line, "round %d at %lld.%09ld acc %lu\n", r, (long long)now.tv_sec, now.tv_nsec,
                     (unsigned long)(acc & 0xffff));
    if (write(1, line, (size_t)n) != n) return 1;
  }
  return 0;
}
