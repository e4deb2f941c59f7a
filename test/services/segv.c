// A real crash: prints a line, then dereferences NULL (SIGSEGV, no handler).
#include <stdio.h>

int main(int argc, char** argv) {
  (void)argv;
  printf("about to crash\n");
  fflush(stdout);
  volatile int* p = (volatile int*)(long)(argc - 1);  // NULL, and the compiler cannot tell
  return *p;
}
