// A signal handler that makes its call at the very site its signal interrupted the program right
// after: glibc's syscall() wrapper, whose pause() returns EINTR into the wrapper's bytes, and
// whose write from the handler is a fast call that would have the site rewritten. Under
// `record --fast` the site must stay as it is until the handler has returned (the program would
// otherwise return into the rewritten bytes), and be patched afterwards.
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_alarm(int sig) {
  (void)sig;
  handled++;
  syscall(SYS_write, 1, "handler\n", 8);
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;  // no SA_RESTART: pause returns EINTR right after its syscall
  sigaction(SIGALRM, &sa, NULL);
  for (int i = 0; i < 3; i++) {
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    syscall(SYS_pause);
  }
  for (int i = 0; i < 5; i++) syscall(SYS_write, 1, "after\n", 6);
  return handled == 3 ? 0 : 1;
}
