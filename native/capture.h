// Reading a syscall's buffers out of the tracee and writing recorded ones back, driven by the
// syscall table. The recorder captures with it, the replayer captures (to compare) and serves.
//
// data_in / data_out encoding: when a syscall has one buffer in that direction the column holds
// its raw bytes (a read's data, a path); with several, each is prefixed by its u32 length.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "syscalls.h"
#include "tracer.h"

namespace rb {

std::string capture_in(Thread& t, const SyscallSpec& s, const uint64_t args[6]);
std::string capture_out(Thread& t, const SyscallSpec& s, const uint64_t args[6], int64_t ret);
// Writes recorded output buffers into the tracee; false with `error` if memory refused them.
bool serve_out(Thread& t, const SyscallSpec& s, const uint64_t args[6], int64_t ret,
               const std::string& data_out, std::string& error);

// Splits an encoded column into its `n` buffers (empty strings for missing parts).
std::vector<std::string> split_parts(const std::string& data, size_t n);
std::string join_parts(const std::vector<std::string>& parts);

// The fds a recorded call received in SCM_RIGHTS control data (recvmsg, recvmmsg), in order.
std::vector<int> received_fds(const SyscallSpec& s, int64_t ret, const std::string& data_out);

// A socket address as the log names endpoints: "127.0.0.1:9000", "[::1]:443", "/run/app.sock";
// empty when unknown.
std::string format_sockaddr(const std::string& sa);
// The transport of a socket(family, type): "tcp", "udp", "unix" or "socket".
std::string socket_proto(uint64_t family, uint64_t type);

// The path or string argument `idx` as captured in data_in (for resources and messages).
std::string in_part_for_arg(const SyscallSpec& s, const std::string& data_in, int idx);
// data_in with the part of argument `idx` replaced by `value`.
std::string with_in_part(const SyscallSpec& s, const std::string& data_in, int idx, const std::string& value);

}  // namespace rb
