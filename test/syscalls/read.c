/* read, pread64, readv, preadv: full, partial and end-of-file reads, and their errors. */
// syscalls: read pread64 readv preadv preadv2
#include "util.h"
#include <sys/uio.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    unsigned char buf[512];
    int fd = R(open(at(argv[1], "data.bin"), O_RDONLY));
    CHECK(fd >= 0);
    long n = R(read(fd, buf, 100));              /* full */
    hex("read 100", buf, n > 0 ? n : 0);
    n = R(read(fd, buf, sizeof buf));             /* partial: 200 left */
    hex("read rest", buf, n > 0 ? n : 0);
    R(read(fd, buf, sizeof buf));                 /* end of file */
    n = R(pread(fd, buf, 100, 250));              /* partial pread at 250 */
    hex("pread at 250", buf, n > 0 ? n : 0);
    R(pread(fd, buf, 10, 1000));                  /* past the end */
    R(pread(fd, buf, 10, -1));                    /* EINVAL */

    unsigned char a[7], b[1], c[20];
    struct iovec iov[3] = {{a, sizeof a}, {b, 0}, {c, sizeof c}};
    R(lseek(fd, 0, SEEK_SET));
    n = R(readv(fd, iov, 3));
    hex("readv a", a, sizeof a);
    hex("readv c", c, sizeof c);
    R(lseek(fd, 290, SEEK_SET));
    memset(a, 0, sizeof a);
    memset(c, 0, sizeof c);
    n = R(readv(fd, iov, 3));                     /* partial: 10 bytes over a and c */
    hex("readv@290 a", a, sizeof a);
    hex("readv@290 c", c, sizeof c);
    memset(c, 0, sizeof c);
    n = R(preadv(fd, iov, 3, 295));               /* 5 bytes into a */
    hex("preadv@295 a", a, sizeof a);
    n = R(syscall(SYS_preadv2, fd, iov, 3, 10L, 0L, 0));
    hex("preadv2@10 a", a, sizeof a);
    hex("preadv2@10 c", c, sizeof c);
    volatile int minus = -1;
    R(readv(fd, iov, minus));                        /* EINVAL */

    /* A pipe answers what it holds: a partial read, then EAGAIN when empty. */
    int p[2];
    R(pipe2(p, O_NONBLOCK));
    R(write(p[1], "\x00\xff\x80hi", 5));
    n = R(read(p[0], buf, sizeof buf));
    hex("pipe read", buf, n > 0 ? n : 0);
    R(read(p[0], buf, sizeof buf));               /* EAGAIN */
    close(p[1]);
    R(read(p[0], buf, sizeof buf));               /* 0: writer gone */

    int wr = R(open(at(argv[1], "data.bin"), O_WRONLY));
    R(read(wr, buf, 10));                         /* EBADF: not open for reading */
    int dir = R(open(argv[1], O_RDONLY | O_DIRECTORY));
    R(read(dir, buf, 10));                        /* EISDIR */
    R(read(-1, buf, 10));                         /* EBADF */
    R(read(77, buf, 10));                         /* EBADF: never opened */
    R(close(fd));
    R(read(fd, buf, 10));                         /* EBADF: closed */
    return 0;
}
