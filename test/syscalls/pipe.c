/* pipe and pipe2: the fd pair, data through it, flags, capacity, end of file and errors. */
// syscalls: pipe pipe2 fcntl ioctl
#include "util.h"
#include <sys/ioctl.h>

int main(void) {
    int p[2], q[2];
    R(syscall(SYS_pipe, p));
    printf("pipe fds %d %d\n", p[0], p[1]);
    R(pipe2(q, O_NONBLOCK | O_CLOEXEC));
    printf("pipe2 fds %d %d\n", q[0], q[1]);
    R(fcntl(q[0], F_GETFL) & O_NONBLOCK);
    R(fcntl(q[0], F_GETFD));
    R(fcntl(p[0], F_GETPIPE_SZ));
    R(write(p[1], "through\n", 8));
    int avail = -1;
    R(ioctl(p[0], FIONREAD, &avail));
    printf("FIONREAD %d\n", avail);
    char buf[32];
    long n = R(read(p[0], buf, sizeof buf));
    hex("read", buf, n > 0 ? n : 0);
    R(read(q[0], buf, sizeof buf));               /* EAGAIN */
    R(close(q[1]));
    R(read(q[0], buf, sizeof buf));               /* 0 */
    R(pipe2(q, 0x4000000));                       /* EINVAL: unknown flag */
    R(syscall(SYS_pipe, (void *)8));              /* EFAULT */
    return 0;
}
