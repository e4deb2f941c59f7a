// Counter reads a tracee makes from known runtime functions, rewritten to trap. Where the
// hypervisor ignores CR4.TSD, PR_TSC_SIGSEGV never makes rdtsc fault, yet a runtime may branch
// on the counter (Go seeds its scheduler's random numbers from runtime.cputicks). At exec, the
// rdtsc/rdtscp instructions inside those functions, found through the executable's symbol
// table, become ud2 (padded with nop): the SIGILL they raise is answered as the counter read it
// replaced, in record and in replay alike, on any machine.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace rb {

class Thread;

struct TscSite {
  uint8_t len = 2;  // bytes of the instruction replaced: 2 (rdtsc) or 3 (rdtscp)
  bool rdtscp = false;
};

// Rewrites the counter reads of the known functions in the image `t` has just exec'd (its
// executable at `exe`) and returns them by address. Nothing is rewritten, and nothing is
// returned, when the executable has no symbol table or none of the functions.
std::map<uint64_t, TscSite> patch_tsc_sites(Thread& t, const std::string& exe);

}  // namespace rb
