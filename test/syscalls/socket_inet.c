/* TCP and UDP on loopback in one process: bind to port 0, listen, connect, accept, options,
 * names, sendto/recvfrom with addresses, recvmsg with a source address, and the errors. */
// syscalls: socket bind listen connect accept accept4 getsockname getpeername setsockopt getsockopt sendto recvfrom recvmsg sendmsg shutdown
#include "util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void addr(const char *label, const struct sockaddr_in *a, socklen_t len) {
    char ip[32];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    printf("%s len %u %s:%u\n", label, len, ip, ntohs(a->sin_port));
}

int main(void) {
    int l = R(socket(AF_INET, SOCK_STREAM, 0));
    int on = 1;
    R(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    memset(sa.sin_zero, 0xa5, sizeof sa.sin_zero);   /* ignored by the kernel */
    R(bind(l, (struct sockaddr *)&sa, sizeof sa));
    socklen_t len = sizeof sa;
    R(getsockname(l, (struct sockaddr *)&sa, &len));
    addr("listening", &sa, len);                      /* the port differs on every run */
    R(listen(l, 8));
    int nl = R(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    R(bind(nl, (struct sockaddr *)&any, sizeof any));
    R(listen(nl, 1));
    R(accept4(nl, NULL, NULL, SOCK_CLOEXEC));         /* EAGAIN: nobody is connecting */
    int c = R(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    R(connect(c, (struct sockaddr *)&sa, sizeof sa));
    struct sockaddr_in peer;
    len = sizeof peer;
    int s = R(accept(l, (struct sockaddr *)&peer, &len));
    addr("accepted from", &peer, len);
    len = sizeof peer;
    R(getpeername(c, (struct sockaddr *)&peer, &len));
    addr("peer", &peer, len);
    R(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
    int v = 0;
    len = sizeof v;
    R(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len));
    printf("nodelay %d len %u\n", v, len);
    len = sizeof v;
    R(getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &len));
    printf("rcvbuf %d\n", v);
    len = sizeof v;
    R(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &len));
    printf("type %d\n", v);
    len = sizeof v;
    R(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len));
    printf("error %d\n", v);
    struct linger lg;
    len = sizeof lg;
    R(getsockopt(c, SOL_SOCKET, SO_LINGER, &lg, &len));
    printf("linger %d %d len %u\n", lg.l_onoff, lg.l_linger, len);
    char small[2] = {0x11, 0x22};
    len = 2;                                          /* truncated option */
    R(getsockopt(c, SOL_SOCKET, SO_RCVBUF, small, &len));
    printf("truncated len %u\n", len);
    R(getsockopt(c, SOL_SOCKET, 9999, &v, &len));     /* ENOPROTOOPT */
    R(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, 1));   /* EINVAL */

    R(send(c, "GET / HTTP/1.0\r\n\r\n", 18, 0));
    char buf[128];
    long n = R(recv(s, buf, sizeof buf, 0));
    hex("server got", buf, n > 0 ? n : 0);
    R(send(s, "HTTP/1.0 200 OK\r\n\r\nbody", 23, MSG_NOSIGNAL));
    R(shutdown(s, SHUT_WR));
    n = R(recv(c, buf, 10, MSG_WAITALL));
    hex("client got", buf, n > 0 ? n : 0);
    n = R(recv(c, buf, sizeof buf, 0));
    hex("client rest", buf, n > 0 ? n : 0);
    R(recv(c, buf, sizeof buf, 0));                   /* 0: end of stream */

    /* UDP to ourselves. */
    int u = R(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    R(bind(u, (struct sockaddr *)&ua, sizeof ua));
    len = sizeof ua;
    R(getsockname(u, (struct sockaddr *)&ua, &len));
    R(sendto(u, "datagram-1", 10, 0, (struct sockaddr *)&ua, sizeof ua));
    R(sendto(u, "datagram-2!", 11, 0, (struct sockaddr *)&ua, sizeof ua));
    struct sockaddr_in from;
    memset(&from, 0, sizeof from);
    len = sizeof from;
    n = R(recvfrom(u, buf, 4, 0, (struct sockaddr *)&from, &len));  /* truncated datagram */
    hex("recvfrom", buf, n > 0 ? n : 0);
    addr("from", &from, len);
    struct iovec iov = {buf, sizeof buf};
    memset(&from, 0, sizeof from);
    struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    n = R(recvmsg(u, &m, MSG_TRUNC));
    hex("recvmsg", buf, n > 0 && n < (long)sizeof buf ? n : 0);
    addr("recvmsg from", &from, m.msg_namelen);
    struct iovec two[2] = {{"to-", 3}, {"self", 4}};
    struct msghdr sm = {.msg_name = &ua, .msg_namelen = sizeof ua, .msg_iov = two, .msg_iovlen = 2};
    R(sendmsg(u, &sm, 0));
    n = R(recvfrom(u, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL));
    hex("sendmsg'd", buf, n > 0 ? n : 0);
    R(recvfrom(u, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL));  /* EAGAIN */

    /* Nobody listens on the port we just closed. */
    R(close(l));
    int r = R(socket(AF_INET, SOCK_STREAM, 0));
    R(connect(r, (struct sockaddr *)&sa, sizeof sa));            /* ECONNREFUSED */
    R(socket(AF_INET, SOCK_STREAM, 99));                         /* EPROTONOSUPPORT */
    R(bind(u, (struct sockaddr *)&ua, 3));                       /* EINVAL */
    return 0;
}
