/* sendmmsg and recvmmsg: several datagrams in one call over a unix SOCK_DGRAM socketpair (with
 * credentials in control data) and between two UDP sockets on loopback (source addresses, a
 * timeout the kernel updates). Partial receives (fewer messages than vlen, a datagram larger than
 * its buffer), a send that stops at a bad message, and the errors EAGAIN and EBADF. */
// syscalls: socketpair sendmmsg recvmmsg setsockopt socket bind getsockname
#include "util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

static void addr(const char *label, const struct sockaddr_in *a, socklen_t len) {
    char ip[32];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    printf("%s len %u %s:%u\n", label, len, ip, ntohs(a->sin_port));
}

/* Prints what the kernel set in each of the first n entries. */
static void show_received(const char *label, struct mmsghdr *v, int n) {
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &v[i].msg_hdr;
        printf("%s[%d] msg_len %u namelen %u controllen %zu flags %x\n", label, i, v[i].msg_len,
               h->msg_namelen, (size_t)h->msg_controllen, h->msg_flags);
        size_t left = v[i].msg_len;
        for (size_t k = 0; k < h->msg_iovlen && left > 0; k++) {
            size_t len = h->msg_iov[k].iov_len < left ? h->msg_iov[k].iov_len : left;
            hex("  iov", h->msg_iov[k].iov_base, len);
            left -= len;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
            hex("  cmsg", c, c->cmsg_len);
    }
}

int main(void) {
    /* Unix datagrams: three messages, the second in two iovecs, received with vlen 5. */
    int sv[2];
    R(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int on = 1;
    R(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    struct iovec s0[1] = {{"first", 5}};
    struct iovec s1[2] = {{"sec", 3}, {"\x00\x01\x02ond", 6}};
    struct iovec s2[1] = {{"third message, longer than its receive buffer", 46}};
    struct mmsghdr out[3];
    memset(out, 0, sizeof out);
    out[0].msg_hdr = (struct msghdr){.msg_iov = s0, .msg_iovlen = 1};
    out[1].msg_hdr = (struct msghdr){.msg_iov = s1, .msg_iovlen = 2};
    out[2].msg_hdr = (struct msghdr){.msg_iov = s2, .msg_iovlen = 1};
    for (int i = 0; i < 3; i++) out[i].msg_len = 0xdeadbeef;
    R(sendmmsg(sv[0], out, 3, 0));
    for (int i = 0; i < 3; i++) printf("sent[%d] msg_len %u\n", i, out[i].msg_len);

    char bufs[5][2][8];
    struct iovec in[5][2];
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl[5];
    struct sockaddr_un from[5];
    struct mmsghdr v[5];
    memset(bufs, 0x55, sizeof bufs);
    memset(ctl, 0, sizeof ctl);
    memset(from, 0x33, sizeof from);
    memset(v, 0, sizeof v);
    for (int i = 0; i < 5; i++) {
        in[i][0] = (struct iovec){bufs[i][0], 4};
        in[i][1] = (struct iovec){bufs[i][1], 8};
        v[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                       .msg_iov = in[i], .msg_iovlen = 2,
                                       .msg_control = ctl[i].buf, .msg_controllen = sizeof ctl[i].buf,
                                       .msg_flags = 0x7777};
        v[i].msg_len = 0xdeadbeef;
    }
    int n = R(recvmmsg(sv[1], v, 5, MSG_DONTWAIT, NULL));     /* 3 of 5 */
    show_received("unix", v, n > 0 ? n : 0);
    printf("untouched msg_len %x flags %x\n", v[3].msg_len, v[3].msg_hdr.msg_flags);
    hex("untouched buffer", bufs[3], sizeof bufs[3]);
    R(recvmmsg(sv[1], v, 5, MSG_DONTWAIT, NULL));              /* EAGAIN */

    /* MSG_TRUNC: msg_len is the datagram's real length, more than the buffer holds. */
    R(sendmmsg(sv[0], out + 2, 1, 0));
    v[0].msg_hdr.msg_controllen = sizeof ctl[0].buf;
    n = R(recvmmsg(sv[1], v, 1, MSG_TRUNC, NULL));
    show_received("trunc", v, n > 0 ? n : 0);

    /* Errors. */
    R(sendmmsg(99, out, 3, 0));                                /* EBADF */
    R(recvmmsg(99, v, 5, 0, NULL));                            /* EBADF */
    R(recvmmsg(sv[1], v, 1, MSG_DONTWAIT, (struct timespec *)8)); /* EFAULT: the timeout */

    /* UDP: a sends to b, b answers; source addresses come back in msg_name. */
    int a = R(socket(AF_INET, SOCK_DGRAM, 0));
    int b = R(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in sb = sa;
    memset(sa.sin_zero, 0xa5, sizeof sa.sin_zero);             /* ignored by the kernel */
    R(bind(a, (struct sockaddr *)&sa, sizeof sa));
    R(bind(b, (struct sockaddr *)&sb, sizeof sb));
    socklen_t len = sizeof sa;
    R(getsockname(a, (struct sockaddr *)&sa, &len));
    addr("a", &sa, len);                                       /* the ports differ on every run */
    len = sizeof sb;
    R(getsockname(b, (struct sockaddr *)&sb, &len));
    addr("b", &sb, len);
    memset(sb.sin_zero, 0x5a, sizeof sb.sin_zero);

    /* Four datagrams to b; the third has a bad address length, so the send stops after two. */
    struct iovec u[4] = {{"one", 3}, {"two!", 4}, {"bad", 3}, {"four", 4}};
    struct mmsghdr uo[4];
    memset(uo, 0, sizeof uo);
    for (int i = 0; i < 4; i++)
        uo[i].msg_hdr = (struct msghdr){.msg_name = &sb, .msg_namelen = sizeof sb, .msg_iov = &u[i], .msg_iovlen = 1};
    uo[2].msg_hdr.msg_namelen = 1;
    R(sendmmsg(a, uo, 4, 0));                                  /* 2 */
    for (int i = 0; i < 4; i++) printf("udp sent[%d] msg_len %u\n", i, uo[i].msg_len);
    R(sendmmsg(a, uo + 2, 2, 0));                              /* EINVAL: the first one fails */
    R(sendmmsg(a, uo + 3, 1, MSG_DONTWAIT));                   /* 1 */

    char ub[4][16];
    struct iovec ui[4];
    struct sockaddr_in src[4];
    struct mmsghdr uv[4];
    memset(ub, 0, sizeof ub);
    memset(src, 0, sizeof src);
    memset(uv, 0, sizeof uv);
    for (int i = 0; i < 4; i++) {
        ui[i] = (struct iovec){ub[i], sizeof ub[i]};
        uv[i].msg_hdr = (struct msghdr){.msg_name = &src[i], .msg_namelen = sizeof src[i], .msg_iov = &ui[i], .msg_iovlen = 1};
    }
    struct timespec timeout = {.tv_sec = 5, .tv_nsec = 0};
    n = R(recvmmsg(b, uv, 4, MSG_WAITFORONE, &timeout));       /* 3 of 4, the timeout updated */
    show_received("udp", uv, n > 0 ? n : 0);
    for (int i = 0; i < (n > 0 ? n : 0); i++) addr("  from", &src[i], uv[i].msg_hdr.msg_namelen);
    printf("timeout left %lld.%09ld\n", (long long)timeout.tv_sec, timeout.tv_nsec);

    /* b answers a in one call; a zero timeout has expired after the first answer. */
    struct mmsghdr back[2];
    struct iovec bi[2] = {{"ack1", 4}, {"ack22", 5}};
    memset(back, 0, sizeof back);
    for (int i = 0; i < 2; i++)
        back[i].msg_hdr = (struct msghdr){.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &bi[i], .msg_iovlen = 1};
    R(sendmmsg(b, back, 2, 0));
    struct timespec zero = {0, 0};
    n = R(recvmmsg(a, uv, 4, MSG_WAITFORONE, &zero));
    show_received("udp back", uv, n > 0 ? n : 0);
    printf("zero timeout left %lld.%09ld\n", (long long)zero.tv_sec, zero.tv_nsec);
    n = R(recvmmsg(a, uv, 4, MSG_DONTWAIT, NULL));             /* the second answer */
    show_received("udp rest", uv, n > 0 ? n : 0);
    R(recvmmsg(a, uv, 4, MSG_DONTWAIT, NULL));                 /* EAGAIN */
    return 0;
}
