// Calls that name a thread by the id the kernel wrote into its pthread at clone (a real id in
// replay, where the program otherwise sees recorded ones): its CPU mask, its CPU-time clock, a
// signal 0 probe, its I/O priority, its name (written to /proc/self/task/TID/comm).
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int gate[2];
static pid_t worker_tid;

static void* worker(void* arg) {
  (void)arg;
  char c;
  worker_tid = (pid_t)syscall(SYS_gettid);
  if (read(gate[0], &c, 1) != 1) return NULL;
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (pipe(gate) != 0) return 1;
  pthread_t th;
  pthread_create(&th, NULL, worker, NULL);
  cpu_set_t set;
  CPU_ZERO(&set);
  printf("getaffinity: %d\n", pthread_getaffinity_np(th, sizeof set, &set));
  clockid_t clock;
  struct timespec res;
  printf("cpu clock: %d, getres: %d\n", pthread_getcpuclockid(th, &clock), clock_getres(clock, &res));
  printf("signal 0: %d\n", pthread_kill(th, 0));
  printf("ioprio: %s\n", syscall(SYS_ioprio_get, 1, 0) >= 0 ? "ok" : "error");
  printf("setname: %d\n", pthread_setname_np(th, "worker"));
  if (write(gate[1], "x", 1) != 1) return 1;
  pthread_join(th, NULL);
  printf("joined\n");
  return 0;
}
