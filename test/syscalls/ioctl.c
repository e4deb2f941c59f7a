/* ioctl on a pseudo-terminal (TCGETS, TCSETS, TIOCSWINSZ/TIOCGWINSZ, TIOCGPTN, TIOCSPTLCK),
 * FIONREAD and FIONBIO on a pipe, and ENOTTY where there is no terminal. */
// syscalls: ioctl
#include "util.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(void) {
    int m = R(open("/dev/ptmx", O_RDWR | O_NOCTTY));
    unsigned ptn = 77;
    R(ioctl(m, TIOCGPTN, &ptn));
    printf("  pty %u\n", ptn);
    int unlock = 0;
    R(ioctl(m, TIOCSPTLCK, &unlock));
    char name[64];
    snprintf(name, sizeof name, "/dev/pts/%u", ptn);
    int s = R(open(name, O_RDWR | O_NOCTTY));
    struct termios t;
    memset(&t, 0, sizeof t);
    if (R(tcgetattr(s, &t)) == 0) printf("  iflag %x oflag %x cflag %x lflag %x vmin %d\n", t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_cc[VMIN]);
    cfmakeraw(&t);
    R(tcsetattr(s, TCSANOW, &t));
    memset(&t, 0, sizeof t);
    if (R(tcgetattr(s, &t)) == 0) printf("  raw lflag %x\n", t.c_lflag);
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    R(ioctl(m, TIOCSWINSZ, &ws));
    memset(&ws, 0, sizeof ws);
    R(ioctl(s, TIOCGWINSZ, &ws));
    printf("  winsize %u x %u\n", ws.ws_row, ws.ws_col);
    R(write(m, "typed\n", 6));
    int avail = -1;
    R(ioctl(s, FIONREAD, &avail));
    printf("  pending %d\n", avail);

    int p[2];
    R(pipe(p));
    R(write(p[1], "12345", 5));
    R(ioctl(p[0], FIONREAD, &avail));
    printf("  pipe holds %d\n", avail);
    int on = 1;
    R(ioctl(p[0], FIONBIO, &on));
    char b[8];
    R(read(p[0], b, sizeof b));
    R(read(p[0], b, sizeof b));                   /* EAGAIN: FIONBIO took effect */
    R(tcgetattr(p[0], &t));                       /* ENOTTY */
    R(ioctl(p[0], TIOCGWINSZ, &ws));              /* ENOTTY */
    R(ioctl(99, FIONREAD, &avail));               /* EBADF */
    return 0;
}
