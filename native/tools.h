// The few helpers both tools share. Each tool's options are in its own header (recorder.h,
// replayer.h); what goes to Node is written by protocol.h.
#pragma once
#include <signal.h>

#include <cstdint>
#include <string>

#include "batch.h"
#include "tracer.h"

namespace rb {

// The event for a syscall at its seccomp stop (no result yet).
Event syscall_event(pid_t pid, Thread& t, const SyscallSpec& s, const uint64_t args[6], uint64_t seq,
                    int64_t enter_ns);
// An event's ret when the call never returned: the process ended while it was blocked.
constexpr int64_t kUnfinished = INT64_MIN;
std::string signal_name(int sig);
// A signal the kernel raised for a faulting instruction (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP
// with a positive si_code): it happens again by itself in replay; others are asynchronous.
bool is_fault(int sig, const siginfo_t& info);
// Where a recorded signal was delivered (a signal event's args[2]), so replay delivers it there:
//   Return     where its thread's previous call returned (a call it interrupted, a signal it
//              sent itself, one that waited while the thread was stopped), and faults;
//   NextEntry  at its thread's next syscall entry, before the call (it landed while the thread
//              ran its own code and was held until then: recorder.cc);
//   Anywhere   at an arbitrary instruction: the thread made no syscall within the bound
//              (args[3], ms), so no replay can find the place exactly.
enum class SignalAt : uint64_t { Return = 0, NextEntry = 1, Anywhere = 2 };

}  // namespace rb
