// Asynchronous signals: a SIGALRM every millisecond (a one-shot timer the handler re-arms)
// while the program computes between syscalls. Each round reads the tick count before and
// after its computation and prints both, so a handler run at another place than recorded
// changes what it prints.
//   timer ROUNDS SPIN   rounds of SPIN iterations of arithmetic, each followed by a write
//   timer --compute MS  pure computation for MS ms (no syscall), then a summary
// Both print, at the end, the median and 90th percentile of the delivery latency (from the
// timer's expiry to the handler's first instruction), in microseconds.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LAT 100000
static volatile sig_atomic_t ticks;
static timer_t timer;
static struct timespec target;
static long lat_ns[MAX_LAT];
static int nlat;

static long ns_between(const struct timespec* a, const struct timespec* b) {
  return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

static void arm(const struct timespec* now) {
  target = *now;
  target.tv_nsec += 1000000;
  if (target.tv_nsec >= 1000000000L) {
    target.tv_sec++;
    target.tv_nsec -= 1000000000L;
  }
  struct itimerspec its = {{0, 0}, target};
  timer_settime(timer, TIMER_ABSTIME, &its, NULL);
}

static void on_alarm(int sig) {
  (void)sig;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (nlat < MAX_LAT) lat_ns[nlat++] = ns_between(&target, &now);
  ticks++;
  arm(&now);
}

static int cmp(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return x < y ? -1 : x > y;
}

static void summary(void) {
  struct itimerspec off = {{0, 0}, {0, 0}};
  timer_settime(timer, 0, &off, NULL);
  qsort(lat_ns, (size_t)nlat, sizeof lat_ns[0], cmp);
  long med = nlat ? lat_ns[nlat / 2] : -1, p90 = nlat ? lat_ns[nlat * 9 / 10] : -1;
  printf("signals %d latency_us median %ld p90 %ld\n", nlat, med / 1000, p90 / 1000);
}

int main(int argc, char** argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGALRM;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) return 1;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  arm(&now);
  if (argc > 2 && strcmp(argv[1], "--compute") == 0) {
    long ms = atol(argv[2]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long x = 0;
    // No syscall in here: check the time by the ticks the handler counted.
    while (ticks < ms)
      for (int j = 0; j < 1000; j++) x += (unsigned long)j * j;
    summary();
    return 0;
  }
  int rounds = argc > 1 ? atoi(argv[1]) : 100, spin = argc > 2 ? atoi(argv[2]) : 100000;
  for (int i = 0; i < rounds; i++) {
    int before = ticks;
    volatile unsigned long x = 0;
    for (int j = 0; j < spin; j++) x += (unsigned long)j * j;
    int after = ticks;
    char line[64];
    int n = snprintf(line, sizeof line, "%d %d %d\n", i, before, after);
    if (write(1, line, (size_t)n) != n) return 1;
  }
  summary();
  return 0;
}
