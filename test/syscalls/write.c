/* write, pwrite64, writev, pwritev: what the kernel took (counts, partial writes) and errors. */
// syscalls: write pwrite64 writev pwritev pwritev2
#include "util.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    signal(SIGPIPE, SIG_IGN);
    int fd = R(open(at(argv[1], "out.bin"), O_CREAT | O_TRUNC | O_RDWR, 0644));
    CHECK(fd >= 0);
    R(write(fd, "0123456789", 10));
    R(write(fd, "\x00\xff\x00", 3));
    R(pwrite(fd, "at100", 5, 100));
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cdefg", 5}};
    R(writev(fd, iov, 3));
    R(pwritev(fd, iov, 3, 200));
    R(syscall(SYS_pwritev2, fd, iov, 3, 300L, 0L, 0));
    volatile int minus = -1;
    R(writev(fd, iov, minus));                       /* EINVAL */
    struct stat st;
    R(fstat(fd, &st));
    printf("size %lld\n", (long long)st.st_size);
    unsigned char back[400];
    long n = R(pread(fd, back, sizeof back, 0));
    hex("file", back, n > 0 ? n : 0);

    int ro = R(open(at(argv[1], "data.bin"), O_RDONLY));
    R(write(ro, "x", 1));                         /* EBADF: read-only */
    R(write(-1, "x", 1));                         /* EBADF */
    const void *volatile bad = (void *)8;
    R(write(fd, bad, 4));                   /* EFAULT */

    /* A full non-blocking pipe takes part of a write, then EAGAIN. */
    int p[2];
    R(pipe2(p, O_NONBLOCK));
    R(fcntl(p[1], F_SETPIPE_SZ, 4096));
    static char big[6000];
    memset(big, 'z', sizeof big);
    R(write(p[1], big, sizeof big));              /* partial */
    R(write(p[1], big, sizeof big));              /* EAGAIN */
    close(p[0]);
    R(write(p[1], "x", 1));                       /* EPIPE */
    R(writev(STDOUT_FILENO, iov, 3));             /* to stdout */
    printf("\n");
    return 0;
}
