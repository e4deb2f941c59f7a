/* getrandom and /dev/urandom: the bytes differ on every run, so identical replay output proves
 * they came from the log. */
// syscalls: getrandom read
#include "util.h"
#include <sys/random.h>

int main(void) {
    unsigned char b[300];
    long n = R(getrandom(b, 16, 0));
    hex("getrandom", b, n > 0 ? n : 0);
    n = R(getrandom(b, sizeof b, GRND_NONBLOCK));
    hex("getrandom 300", b, n > 0 ? n : 0);
    n = R(getrandom(b, 8, GRND_INSECURE));
    hex("insecure", b, n > 0 ? n : 0);
    R(getrandom(b, 8, 0x100));                    /* EINVAL */
    void *volatile bad = (void *)8;
    R(getrandom(bad, 8, 0));                /* EFAULT */
    int fd = R(open("/dev/urandom", O_RDONLY));
    n = R(read(fd, b, 16));
    hex("urandom", b, n > 0 ? n : 0);
    return 0;
}
