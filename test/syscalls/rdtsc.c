/* rdtsc and rdtscp read the time-stamp counter without a syscall: trapped (PR_SET_TSC), recorded
 * and served in replay, so the values printed are production's. Also clock_gettime in between,
 * so counter reads and clock reads interleave in the log. */
// syscalls: clock_gettime write
#include "util.h"
#include <time.h>
#include <x86intrin.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    unsigned long long a = __rdtsc();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned aux = 0;
    unsigned long long b = __rdtscp(&aux);
    printf("rdtsc %llu rdtscp %llu aux %u monotonic %lld.%09ld\n", a, b, aux, (long long)ts.tv_sec, ts.tv_nsec);
    CHECK(b >= a);
    unsigned long long sum = 0;
    for (int i = 0; i < 100; i++) sum += __rdtsc() & 0xff;
    printf("sum of 100 low bytes %llu\n", sum);
    return 0;
}
