/* Shared by the per-syscall programs: each prints what the kernel answered (return values, errno
 * names, bytes in hex), so a replay that prints the same proves the log served those answers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Prints "label = N" or "label = -1 ENAME" and returns the value. */
static inline long show(const char *label, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", label, strerrorname_np(errno));
    else
        printf("%s = %ld\n", label, r);
    return r;
}
#define R(expr) show(#expr, (long)(expr))

static inline void hex(const char *label, const void *p, size_t n) {
    const unsigned char *b = p;
    printf("%s [%zu]:", label, n);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

/* dir/name in a static buffer (one at a time). */
static inline const char *at(const char *dir, const char *name) {
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Fails the program (exit 3) when an assumption about the fixture does not hold. */
#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            printf("CHECK failed line %d: %s\n", __LINE__, #cond);     \
            exit(3);                                                   \
        }                                                              \
    } while (0)
