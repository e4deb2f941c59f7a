#include "tsc.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <asm/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "tracer.h"

namespace rb {

// Whether this thread traps rdtsc: then the vDSO's clock_gettime (which executes rdtsc) would
// fault, and the clock is read with the syscall.
thread_local bool t_tsc_trapped = false;
bool own_tsc_trapped() { return t_tsc_trapped; }

namespace {

bool is_tsc_instruction(const uint8_t* ip) {
  return ip[0] == 0x0f && (ip[1] == 0x31 || (ip[1] == 0x01 && ip[2] == 0xf9));
}

// Our own rdtsc faulted (code outside now_ns and read_tsc: a library): stop trapping in this
// thread and let the instruction run again. Any other SIGSEGV is a real crash: the default
// action, at the same instruction.
void on_own_segv(int, siginfo_t* info, void* uc) {
  const auto* ctx = static_cast<const ucontext_t*>(uc);
  const auto* ip = reinterpret_cast<const uint8_t*>(ctx->uc_mcontext.gregs[REG_RIP]);
  if (info->si_code == SI_KERNEL && is_tsc_instruction(ip)) {
    prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
    t_tsc_trapped = false;
    return;
  }
  signal(SIGSEGV, SIG_DFL);
}

}  // namespace

void trap_own_tsc() {
  struct sigaction sa = {};
  sa.sa_sigaction = on_own_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) == 0) t_tsc_trapped = true;
}

void allow_tsc() {
  // A new thread inherits the kernel's flag, not this thread_local: always ask.
  prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
  t_tsc_trapped = false;
}

bool tsc_traps() {
  static const bool traps = [] {
    pid_t child = fork();
    if (child < 0) return true;  // cannot tell: assume the kernel does what it says
    if (child == 0) {
      signal(SIGSEGV, SIG_DFL);
      if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) != 0) _exit(2);
      volatile uint64_t v = __rdtsc();
      (void)v;
      _exit(0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
  }();
  return traps;
}

const char* const kTscUntrappedWarning =
    "this machine does not trap rdtsc (PR_SET_TSC is set, but the hypervisor ignores CR4.TSD): "
    "counter reads are recorded and served only inside known runtime functions, which replaybook "
    "rewrites to trap (Go's runtime.cputicks); a program whose path depends on other rdtsc "
    "instructions may diverge in replay";

bool cpuid_faults() {
  // ARCH_SET_CPUID answers ENODEV before looking at its argument where the CPU cannot fault
  // cpuid; 1 (cpuid allowed) changes nothing for the engine itself.
  static const bool faults = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1) == 0;
  return faults;
}

std::string cpuid_reason() {
  return cpuid_faults() ? "this CPU could fault it (ARCH_SET_CPUID), but replaybook does not trap it yet"
                        : "this CPU cannot fault it (ARCH_SET_CPUID answers ENODEV: no cpuid_fault)";
}

std::string cpuid_untrapped_warning() {
  return "cpuid is not recorded: " + cpuid_reason() +
         "; a program that branches on what cpuid reports (CPU features, cache sizes) may take another path when "
         "replayed on another machine";
}

uint64_t read_tsc(bool rdtscp, uint32_t& aux) {
  bool trapped = t_tsc_trapped;
  if (trapped) prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
  unsigned a = 0;
  uint64_t v = rdtscp ? __rdtscp(&a) : __rdtsc();
  if (trapped) prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0);
  aux = a;
  return v;
}

namespace {

// The runtime functions whose counter reads are rewritten (not syscalls: instructions).
const char* const kCounterFunctions[] = {
    "runtime.cputicks",       // Go: seeds every M's fastrand, block profiling (the assembly
    "runtime.cputicks.abi0",  // body is the .abi0 symbol since Go 1.17's register ABI)
};

bool read_at(int fd, uint64_t off, void* buf, size_t len) {
  return pread(fd, buf, len, static_cast<off_t>(off)) == static_cast<ssize_t>(len);
}

struct Symbol {
  uint64_t value = 0;
  uint64_t size = 0;
};

// The listed functions found in the ELF file's .symtab, and whether it is position independent.
std::map<std::string, Symbol> find_symbols(const std::string& path, bool& pie) {
  std::map<std::string, Symbol> out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  Elf64_Ehdr eh;
  if (read_at(fd, 0, &eh, sizeof eh) && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shnum < 4096) {
    pie = eh.e_type == ET_DYN;
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    if (read_at(fd, eh.e_shoff, sh.data(), sh.size() * sizeof(Elf64_Shdr))) {
      for (const Elf64_Shdr& s : sh) {
        if (s.sh_type != SHT_SYMTAB || s.sh_link >= sh.size() || s.sh_entsize != sizeof(Elf64_Sym)) continue;
        const Elf64_Shdr& strs = sh[s.sh_link];
        if (s.sh_size > (256u << 20) || strs.sh_size > (256u << 20)) continue;
        std::vector<Elf64_Sym> syms(s.sh_size / sizeof(Elf64_Sym));
        std::string names(strs.sh_size, '\0');
        if (!read_at(fd, s.sh_offset, syms.data(), syms.size() * sizeof(Elf64_Sym)) ||
            !read_at(fd, strs.sh_offset, names.data(), names.size()))
          continue;
        for (const Elf64_Sym& sym : syms) {
          if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name >= names.size()) continue;
          const char* name = names.c_str() + sym.st_name;
          for (const char* want : kCounterFunctions)
            if (std::strcmp(name, want) == 0) out[want] = Symbol{sym.st_value, sym.st_size};
        }
      }
    }
  }
  close(fd);
  return out;
}

// Where a position-independent executable was loaded: the start of its first mapping.
uint64_t load_bias(pid_t pid, const std::string& exe) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos || line.compare(slash, std::string::npos, exe) != 0) continue;
    std::istringstream in(line);
    std::string range, perms, offset;
    in >> range >> perms >> offset;
    if (std::strtoull(offset.c_str(), nullptr, 16) != 0) continue;
    return std::strtoull(range.c_str(), nullptr, 16);
  }
  return 0;
}

}  // namespace

std::map<uint64_t, TscSite> patch_tsc_sites(Thread& t, const std::string& exe) {
  std::map<uint64_t, TscSite> sites;
  bool pie = false;
  std::map<std::string, Symbol> found = find_symbols(exe, pie);
  if (found.empty()) return sites;
  const uint64_t bias = pie ? load_bias(t.pid(), exe) : 0;
  if (pie && bias == 0) return sites;
  for (const auto& [name, sym] : found) {
    if (sym.size < 2 || sym.size > 256) continue;
    std::string code = t.read_bytes(bias + sym.value, sym.size);
    if (code.size() != sym.size) continue;
    for (size_t i = 0; i + 1 < code.size(); i++) {
      const uint8_t* c = reinterpret_cast<const uint8_t*>(code.data()) + i;
      TscSite site;
      if (c[0] == 0x0f && c[1] == 0x31) {
        site.len = 2;
      } else if (i + 2 < code.size() && c[0] == 0x0f && c[1] == 0x01 && c[2] == 0xf9) {
        site.len = 3;
        site.rdtscp = true;
      } else {
        continue;
      }
      static const uint8_t kUd2[3] = {0x0f, 0x0b, 0x90};  // ud2; nop
      uint64_t at = bias + sym.value + i;
      if (t.write_mem(at, kUd2, site.len)) sites[at] = site;
      i += site.len - 1;
    }
  }
  return sites;
}

}  // namespace rb
