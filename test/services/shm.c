// A POSIX shared memory segment: shm_open, map it MAP_SHARED, write into it, let a forked child
// add to it, print what the segment holds, and shm_unlink it before exiting (the segment is gone
// by the end of the recording).
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  char name[64];
  snprintf(name, sizeof name, "/rb-shm-test-%d", (int)getpid());
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, 4096) != 0) return perror("shm_open"), 1;
  char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  strcpy(p, "written by the parent");
  pid_t child = fork();
  if (child == 0) {
    strcat(p, ", then by the child");
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  printf("segment: %s\n", p);
  munmap(p, 4096);
  close(fd);
  shm_unlink(name);
  return 0;
}
