// The time-stamp counter: the engine's own trap of rdtsc, whether this machine can trap it at
// all, and the counter reads of known runtime functions rewritten to trap.
//
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

// The tracer thread runs with rdtsc trapped like its tracees (PR_TSC_SIGSEGV). The kernel flips
// CR4.TSD on every switch between a task that traps rdtsc and one that does not, and in a virtual
// machine each flip is a VM exit: with the flag on both sides, a ptrace stop costs about half
// (measured: 19 µs instead of 10 µs per emulated syscall under Firecracker). So this thread
// reads clocks with the syscall (now_ns) instead of the vDSO, reads the counter for a tracee
// through read_tsc, and if anything else in it executes rdtsc, the fault turns the trap off for
// this thread (slower from then on, never wrong). Threads it starts inherit the trap:
// allow_tsc() lifts it for them.
void trap_own_tsc();
void allow_tsc();
// The time-stamp counter (and, for rdtscp, IA32_TSC_AUX), read from a thread that traps rdtsc.
uint64_t read_tsc(bool rdtscp, uint32_t& aux);
// Whether PR_TSC_SIGSEGV makes rdtsc fault on this machine (asked once, of a child). Some
// hypervisors ignore the guest's CR4.TSD: there counter reads cannot be recorded or served.
bool tsc_traps();
// The warning a recording or replay gives where tsc_traps() is false.
extern const char* const kTscUntrappedWarning;
// cpuid, the other instruction whose answer differs between machines (and hypervisors): the
// kernel can make it fault only where the CPU has cpuid faulting (ARCH_SET_CPUID, the
// cpuid_fault flag). replaybook does not trap it; a recording warns once, naming whether this
// CPU could (cpuid_untrapped_warning(), from cpuid_reason()), and record --cpuid require
// refuses to record with that reason.
bool cpuid_faults();
std::string cpuid_reason();
std::string cpuid_untrapped_warning();
// Whether the calling thread traps rdtsc now (its clock reads then use the syscall).
bool own_tsc_trapped();

struct TscSite {
  uint8_t len = 2;  // bytes of the instruction replaced: 2 (rdtsc) or 3 (rdtscp)
  bool rdtscp = false;
};

// Rewrites the counter reads of the known functions in the image `t` has just exec'd (its
// executable at `exe`) and returns them by address. Nothing is rewritten, and nothing is
// returned, when the executable has no symbol table or none of the functions.
std::map<uint64_t, TscSite> patch_tsc_sites(Thread& t, const std::string& exe);

}  // namespace rb
