// A program with its own SIGSYS handler that also blocks every signal around its I/O: the fast
// path uses no signal, so both keep working as without it.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got = 0;
static void on_sigsys(int sig) { got = sig; }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigsys;
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, NULL) != 0) return 1;
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  char line[64];
  for (int i = 0; i < 20; i++) {
    int n = snprintf(line, sizeof line, "blocked %d\n", i);
    if (write(1, line, (size_t)n) != n) return 1;
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  raise(SIGSYS);
  int n = snprintf(line, sizeof line, "handler saw %d\n", (int)got);
  return write(1, line, (size_t)n) == n ? 0 : 1;
}
