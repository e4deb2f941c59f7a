/* fcntl: flags, close-on-exec, duplication, record locks (F_GETLK answers who holds the lock),
 * owners, pipe sizes and the errors. */
// syscalls: fcntl
#include "util.h"
#include <sys/auxv.h>
#include <sys/stat.h>

static void lock(const char *label, long r, const struct flock *l) {
    show(label, r);
    if (r == 0) printf("  type %d whence %d start %lld len %lld pid %d\n", l->l_type, l->l_whence,
                       (long long)l->l_start, (long long)l->l_len, l->l_pid);
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    int fd = R(open(at(argv[1], "data.bin"), O_RDWR));
    int fl = R(fcntl(fd, F_GETFL));
    R(fcntl(fd, F_SETFL, fl | O_NONBLOCK | O_APPEND));
    R(fcntl(fd, F_GETFL));
    R(fcntl(fd, F_GETFD));
    R(fcntl(fd, F_SETFD, FD_CLOEXEC));
    R(fcntl(fd, F_GETFD));
    R(fcntl(fd, F_DUPFD, 10));
    R(fcntl(fd, F_DUPFD_CLOEXEC, 10));
    R(fcntl(11, F_GETFD));

    /* Two open file descriptions of one file: OFD locks conflict between them. */
    int other = R(open(at(argv[1], "data.bin"), O_RDWR));
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
    lock("ofd setlk", fcntl(fd, F_OFD_SETLK, &l), &l);
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    lock("ofd getlk", fcntl(other, F_OFD_GETLK, &q), &q);
    struct flock w = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 15, .l_len = 1};
    lock("ofd setlk conflict", fcntl(other, F_OFD_SETLK, &w), &w);   /* EAGAIN */
    struct flock p = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 5};
    lock("setlk", fcntl(fd, F_SETLK, &p), &p);
    struct flock g = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 5};
    lock("getlk own", fcntl(fd, F_GETLK, &g), &g);                   /* F_UNLCK: our own lock */
    /* l_pid and the padding are ignored by the kernel for process locks: this run's AT_RANDOM
     * bytes there (as stack garbage would be) must not make the replay diverge. */
    struct flock junk;
    memcpy(&junk, (void *)getauxval(AT_RANDOM), 16);
    memcpy((char *)&junk + 16, (void *)getauxval(AT_RANDOM), 16);
    junk.l_type = F_RDLCK;
    junk.l_whence = SEEK_SET;
    junk.l_start = 200;
    junk.l_len = 10;
    show("setlk with junk pid", fcntl(fd, F_SETLK, &junk));
    struct flock bad = {.l_type = 77, .l_whence = SEEK_SET};
    lock("setlk bad type", fcntl(fd, F_SETLK, &bad), &bad);          /* EINVAL */

    R(fcntl(fd, F_SETOWN, 4242));
    R(fcntl(fd, F_GETOWN));
    struct f_owner_ex o = {.type = F_OWNER_PID, .pid = 0};
    R(fcntl(fd, F_GETOWN_EX, &o));
    printf("  owner type %d pid %d\n", o.type, o.pid);
    int pp[2];
    R(pipe(pp));
    R(fcntl(pp[0], F_GETPIPE_SZ));
    R(fcntl(pp[0], F_SETPIPE_SZ, 8192));
    R(fcntl(pp[0], F_GETPIPE_SZ));
    R(fcntl(fd, F_GETPIPE_SZ));                   /* EBADF: not a pipe */
    R(fcntl(fd, 9999));                           /* EINVAL */
    R(fcntl(99, F_GETFD));                        /* EBADF */
    return 0;
}
