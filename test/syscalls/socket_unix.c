/* Unix sockets: socketpair, send/recv, sendmsg/recvmsg with several iovecs, an address and
 * credentials, MSG_PEEK, EAGAIN, and a path socket whose sockaddr carries garbage past the path
 * (as glibc's nscd client passes it: the kernel ignores those bytes, and so must replay). */
// syscalls: socketpair sendto recvfrom sendmsg recvmsg socket bind listen connect accept4 getsockname getpeername shutdown
#include "util.h"
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv) {
    CHECK(argc == 2);
    int sv[2];
    R(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    printf("pair %d %d\n", sv[0], sv[1]);
    R(send(sv[0], "hello", 5, 0));
    char buf[64];
    long n = R(recv(sv[1], buf, 3, 0));           /* partial */
    hex("recv", buf, n > 0 ? n : 0);
    n = R(recv(sv[1], buf, sizeof buf, MSG_PEEK));
    hex("peek", buf, n > 0 ? n : 0);
    n = R(recv(sv[1], buf, sizeof buf, 0));
    hex("recv rest", buf, n > 0 ? n : 0);
    R(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT)); /* EAGAIN */

    struct iovec out[2] = {{"abc", 3}, {"\x00\xff", 2}};
    struct msghdr m = {.msg_iov = out, .msg_iovlen = 2};
    R(sendmsg(sv[0], &m, 0));
    char a[2], b[8];
    struct iovec in[2] = {{a, sizeof a}, {b, sizeof b}};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct sockaddr_un from;
    memset(&from, 0x55, sizeof from);
    struct msghdr r = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = in, .msg_iovlen = 2,
                       .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf, .msg_flags = 0x7777};
    int on = 1;
    R(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    R(sendmsg(sv[0], &m, 0));
    n = R(recvmsg(sv[1], &r, 0));
    printf("namelen %u controllen %zu flags %x\n", r.msg_namelen, (size_t)r.msg_controllen, r.msg_flags);
    hex("a", a, sizeof a);
    hex("b", b, n > 2 ? n - 2 : 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&r);
    if (c) {
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        printf("cmsg level %d type %d pid %d uid %d\n", c->cmsg_level, c->cmsg_type, cred.pid, cred.uid);
    }
    r.msg_iov = in;
    r.msg_iovlen = 1;
    n = R(recvmsg(sv[1], &r, MSG_DONTWAIT));      /* the second message's first bytes */
    hex("a again", a, n > 0 ? n : 0);
    R(recvmsg(sv[1], &r, MSG_DONTWAIT));          /* the rest */
    R(recvmsg(sv[1], &r, MSG_DONTWAIT));          /* EAGAIN */
    R(shutdown(sv[0], SHUT_WR));
    R(recv(sv[1], buf, sizeof buf, 0));           /* 0: end of stream */

    /* A path socket; the address past the path's NUL holds this run's AT_RANDOM bytes. */
    int l = R(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", argv[1]);
    memcpy(sa.sun_path + sizeof sa.sun_path - 16, (void *)getauxval(AT_RANDOM), 16);
    R(bind(l, (struct sockaddr *)&sa, sizeof sa));
    R(listen(l, 4));
    int cl = R(socket(AF_UNIX, SOCK_STREAM, 0));
    R(connect(cl, (struct sockaddr *)&sa, sizeof sa));
    struct sockaddr_un peer;
    socklen_t len = sizeof peer;
    int acc = R(accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC));
    printf("accepted addrlen %u\n", len);
    len = sizeof peer;
    R(getsockname(acc, (struct sockaddr *)&peer, &len));
    printf("sockname %u %s\n", len, peer.sun_path);
    len = sizeof peer;
    R(getpeername(cl, (struct sockaddr *)&peer, &len));
    printf("peername %u %s\n", len, peer.sun_path);
    len = 4;                                      /* truncated: the kernel says how long it was */
    memset(&peer, 0, sizeof peer);
    R(getsockname(acc, (struct sockaddr *)&peer, &len));
    printf("truncated %u\n", len);
    hex("truncated bytes", &peer, 8);
    R(write(cl, "over", 4));
    n = R(read(acc, buf, sizeof buf));
    hex("accepted read", buf, n > 0 ? n : 0);
    R(connect(cl, (struct sockaddr *)&sa, sizeof sa));           /* EISCONN */
    struct sockaddr_un nowhere = {.sun_family = AF_UNIX};
    snprintf(nowhere.sun_path, sizeof nowhere.sun_path, "%s/nobody", argv[1]);
    int s2 = R(socket(AF_UNIX, SOCK_STREAM, 0));
    R(connect(s2, (struct sockaddr *)&nowhere, sizeof nowhere));  /* ENOENT */
    R(socket(AF_UNIX, 99, 0));                                   /* EINVAL */
    R(send(99, "x", 1, 0));                                      /* EBADF */
    return 0;
}
