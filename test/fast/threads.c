// Threads that each write and read a pipe of their own: under --schedule parallel the fast path
// records their calls at once, in one order.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void* worker(void* arg) {
  long id = (long)arg;
  int p[2];
  if (pipe(p) != 0) return (void*)1;
  char out[32], in[32];
  for (int i = 0; i < 50; i++) {
    int n = snprintf(out, sizeof out, "t%ld-%d", id, i);
    if (write(p[1], out, (size_t)n) != n || read(p[0], in, sizeof in) != n) return (void*)1;
  }
  close(p[0]);
  close(p[1]);
  return NULL;
}

int main(void) {
  pthread_t t[3];
  for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, (void*)i);
  long bad = 0;
  for (int i = 0; i < 3; i++) {
    void* r;
    pthread_join(t[i], &r);
    bad += (long)r;
  }
  printf("threads done, %ld failed\n", bad);
  return bad != 0;
}
