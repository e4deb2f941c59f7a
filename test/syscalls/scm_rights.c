/* SCM_RIGHTS: a file fd and pipe fds passed over unix socketpairs (recvmsg, recvmmsg), then used
 * through the received numbers: read, fstat, lseek (sharing the sender's offset), fcntl, dup,
 * close; a control buffer too small for every fd (MSG_CTRUNC). Replay has no real fds to receive:
 * the received numbers must exist in the program all the same. */
// syscalls: openat pipe2 socketpair sendmsg recvmsg sendmmsg recvmmsg read write fstat lseek fcntl dup close
#include "util.h"
#include <sys/socket.h>
#include <sys/stat.h>

/* Sends `n` fds with one byte of payload. */
static long send_fds(int sock, const int *fds, int n) {
    char c = 'x';
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = CMSG_SPACE(n * sizeof(int))};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(h), fds, n * sizeof(int));
    return R(sendmsg(sock, &m, 0));
}

/* The fds in a received message's SCM_RIGHTS data; returns how many. */
static int fds_of(struct msghdr *m, int *fds, int max) {
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        hex("cmsg", c, c->cmsg_len);
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && n < max; k++)
            memcpy(&fds[n++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
    }
    for (int i = 0; i < n; i++) printf("received fd %d\n", fds[i]);
    return n;
}

static void show_stat(const char *label, int fd) {
    struct stat st;
    memset(&st, 0, sizeof st);
    if (R(syscall(SYS_fstat, fd, &st)) == 0)                  /* glibc's fstat is newfstatat */
        printf("%s: reg %d fifo %d size %lld\n", label, S_ISREG(st.st_mode), S_ISFIFO(st.st_mode),
               (long long)st.st_size);
}

int main(int argc, char **argv) {
    CHECK(argc == 2);
    int file = R(open(at(argv[1], "data.bin"), O_RDONLY));
    int p[2];
    R(pipe2(p, 0));
    R(write(p[1], "piped", 5));
    int sv[2];
    R(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

    /* recvmsg: the file and the pipe's read end, close-on-exec. */
    int pass[2] = {file, p[0]};
    send_fds(sv[0], pass, 2);
    char c;
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    R(recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC));
    printf("controllen %zu flags %x\n", (size_t)m.msg_controllen, m.msg_flags);
    int got[4];
    CHECK(fds_of(&m, got, 4) == 2);
    int rf = got[0], rp = got[1];

    unsigned char buf[32];
    long n = R(read(rf, buf, 16));
    hex("read received file", buf, n > 0 ? n : 0);
    show_stat("received file", rf);
    R(lseek(rf, 100, SEEK_SET));
    n = R(read(rf, buf, 8));
    hex("read at 100", buf, n > 0 ? n : 0);
    R(lseek(rf, 0, SEEK_CUR));                                /* 108 */
    n = R(read(file, buf, 4));                                /* the sender's fd shares the offset */
    hex("read original", buf, n > 0 ? n : 0);
    R(fcntl(rf, F_GETFD));                                    /* FD_CLOEXEC */
    R(fcntl(file, F_GETFD));                                  /* 0 */
    int d = R(dup(rf));
    n = R(read(d, buf, 4));
    hex("read dup", buf, n > 0 ? n : 0);
    R(close(d));
    n = R(read(rp, buf, sizeof buf));
    hex("read received pipe", buf, n > 0 ? n : 0);
    show_stat("received pipe", rp);
    R(close(rf));
    R(close(rp));
    R(read(rf, buf, 1));                                      /* EBADF */
    R(close(rp));                                             /* EBADF */

    /* A control buffer with room for two of three fds: the third is dropped, MSG_CTRUNC. */
    int three[3] = {file, p[1], sv[0]};
    send_fds(sv[0], three, 3);
    memset(&ctl, 0, sizeof ctl);
    m = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = CMSG_SPACE(2 * sizeof(int))};
    R(recvmsg(sv[1], &m, 0));
    printf("controllen %zu flags %x\n", (size_t)m.msg_controllen, m.msg_flags);
    CHECK(fds_of(&m, got, 4) == 2);
    R(write(got[1], "via received", 12));                     /* the pipe's write end */
    R(close(got[0]));
    R(close(got[1]));

    /* recvmmsg over datagrams: the pipe's write end in one message, the file in the next. */
    int dg[2];
    R(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    struct mmsghdr out[2];
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } oc[2], ic[3];
    struct iovec oi[2] = {{"w", 1}, {"f", 1}};
    int which[2] = {p[1], file};
    memset(out, 0, sizeof out);
    memset(oc, 0, sizeof oc);
    for (int i = 0; i < 2; i++) {
        out[i].msg_hdr = (struct msghdr){.msg_iov = &oi[i], .msg_iovlen = 1, .msg_control = oc[i].buf,
                                         .msg_controllen = sizeof oc[i].buf};
        struct cmsghdr *h = CMSG_FIRSTHDR(&out[i].msg_hdr);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &which[i], sizeof(int));
    }
    R(sendmmsg(dg[0], out, 2, 0));
    struct mmsghdr in[3];
    char ib[3];
    struct iovec ii[3];
    memset(in, 0, sizeof in);
    memset(ic, 0, sizeof ic);
    for (int i = 0; i < 3; i++) {
        ii[i] = (struct iovec){&ib[i], 1};
        in[i].msg_hdr = (struct msghdr){.msg_iov = &ii[i], .msg_iovlen = 1, .msg_control = ic[i].buf,
                                        .msg_controllen = sizeof ic[i].buf};
    }
    int k = R(recvmmsg(dg[1], in, 3, MSG_DONTWAIT, NULL));    /* 2 of 3 */
    int w = -1, f = -1;
    for (int i = 0; i < (k > 0 ? k : 0); i++) {
        printf("message %d: len %u byte %c\n", i, in[i].msg_len, ib[i]);
        int one[1];
        CHECK(fds_of(&in[i].msg_hdr, one, 1) == 1);
        if (i == 0) w = one[0];
        else f = one[0];
    }
    R(write(w, " and mmsg", 9));
    R(close(p[1]));
    R(close(w));
    n = R(read(p[0], buf, sizeof buf));                       /* what went through received fds */
    hex("read pipe", buf, n > 0 ? n : 0);
    R(read(p[0], buf, sizeof buf));                           /* 0: every write end is closed */
    R(close(file));                                           /* the received one stays open */
    show_stat("file from recvmmsg", f);
    R(lseek(f, 0, SEEK_SET));
    n = R(read(f, buf, 4));
    hex("read file from recvmmsg", buf, n > 0 ? n : 0);
    R(close(f));
    int again = R(open(at(argv[1], "text.txt"), O_RDONLY));  /* the lowest free number */
    n = R(read(again, buf, sizeof buf));
    hex("text", buf, n > 0 ? n : 0);
    return 0;
}
