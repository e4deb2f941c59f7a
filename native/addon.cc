// The node-addon-api binding: starts the engine process and moves event batches across the
// boundary. Its whole surface is declared in src/engine/native.d.ts.
#include <fcntl.h>
#include <napi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "batch.h"
#include "syscalls.h"

namespace {

struct FrameMsg {
  uint32_t type = 0;  // 0: the engine exited
  char* data = nullptr;
  size_t len = 0;
  int exit_code = -1, exit_signal = 0;
};

void deliver(Napi::Env env, Napi::Function cb, void*, FrameMsg* m) {
  if (env != nullptr && cb != nullptr) {
    if (m->type == 0) {
      cb.Call({Napi::Number::New(env, 0), env.Null(),
               m->exit_code >= 0 ? Napi::Number::New(env, m->exit_code) : env.Null(),
               m->exit_signal ? Napi::Number::New(env, m->exit_signal) : env.Null()});
    } else {
      char* data = m->data;
      auto ab = Napi::ArrayBuffer::New(env, data, m->len,
                                       [](Napi::Env, void* p) { delete[] static_cast<char*>(p); });
      m->data = nullptr;
      cb.Call({Napi::Number::New(env, m->type), ab});
    }
  }
  delete[] m->data;
  delete m;
}

using Tsfn = Napi::TypedThreadSafeFunction<void, FrameMsg, deliver>;

// spawnEngine(path, onFrame, ownGroup) -> { pid, input }
// With ownGroup the engine (and the program it traces) leads a process group of its own, so a
// signal sent to the caller's group (Jupyter's interrupt signals the kernel's whole group) does not
// reach it: the caller decides which engines to stop.
Napi::Value SpawnEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  Napi::Function cb = info[1].As<Napi::Function>();
  bool own_group = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    Napi::Error::New(env, std::string("pipe: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Null();
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    Napi::Error::New(env, std::string("fork: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Null();
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec (Node is multi-threaded).
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    if (own_group && setpgid(0, 0) != 0) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    // Node opens its stdio close-on-exec; the engine and the service inherit them.
    for (int fd = 0; fd < 3; fd++) fcntl(fd, F_SETFD, 0);
    if (dup2(in[0], 3) < 0 || dup2(out[1], 4) < 0) _exit(1);
    syscall(SYS_close_range, 5, ~0U, 0);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    execv(path.c_str(), argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  int read_fd = out[0];
  Tsfn tsfn = Tsfn::New(env, cb, "replaybook-engine", 0, 1);
  std::thread([tsfn, read_fd, pid]() mutable {
    uint32_t type;
    std::string payload;
    while (rb::read_frame(read_fd, type, payload)) {
      auto* m = new FrameMsg;
      m->type = type;
      m->len = payload.size();
      m->data = new char[payload.size() ? payload.size() : 1];
      std::memcpy(m->data, payload.data(), payload.size());
      tsfn.BlockingCall(m);
    }
    close(read_fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    auto* m = new FrameMsg;
    if (WIFEXITED(status)) m->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) m->exit_signal = WTERMSIG(status);
    tsfn.BlockingCall(m);
    tsfn.Release();
  }).detach();
  Napi::Object res = Napi::Object::New(env);
  res.Set("pid", Napi::Number::New(env, pid));
  res.Set("input", Napi::Number::New(env, in[1]));
  return res;
}

template <typename T>
Napi::Value view(Napi::Env env, Napi::ArrayBuffer ab, const uint8_t* base, const void* p,
                 size_t count) {
  size_t off = static_cast<const uint8_t*>(p) - base;
  return Napi::TypedArrayOf<T>::New(env, count, ab, off);
}

// decodeEvents(ArrayBuffer) -> columns as typed-array views over the same memory.
Napi::Value DecodeEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  const uint8_t* base = static_cast<const uint8_t*>(ab.Data());
  rb::BatchView v;
  if (!rb::view_batch(base, ab.ByteLength(), v)) {
    Napi::Error::New(env, "the engine sent a malformed event batch").ThrowAsJavaScriptException();
    return env.Null();
  }
  size_t n = v.n;
  Napi::Object o = Napi::Object::New(env);
  o.Set("n", Napi::Number::New(env, static_cast<double>(n)));
  o.Set("seq", view<uint64_t>(env, ab, base, v.seq, n));
  o.Set("pid", view<int32_t>(env, ab, base, v.pid, n));
  o.Set("tid", view<int32_t>(env, ab, base, v.tid, n));
  o.Set("nr", view<int32_t>(env, ab, base, v.nr, n));
  o.Set("args", view<uint64_t>(env, ab, base, v.args, n * 6));
  o.Set("ret", view<int64_t>(env, ab, base, v.ret, n));
  o.Set("enter_ns", view<int64_t>(env, ab, base, v.enter_ns, n));
  o.Set("dur_ns", view<int64_t>(env, ab, base, v.dur_ns, n));
  o.Set("kind", view<uint8_t>(env, ab, base, v.kind, n));
  const char* names[rb::kVarColumns] = {"name", "resource", "data_in", "data_out"};
  for (size_t c = 0; c < rb::kVarColumns; c++) {
    Napi::Object col = Napi::Object::New(env);
    col.Set("offsets", view<int32_t>(env, ab, base, v.offsets[c], n + 1));
    col.Set("data", view<uint8_t>(env, ab, base, v.bytes[c], static_cast<size_t>(v.offsets[c][n])));
    o.Set(names[c], col);
  }
  return o;
}

// encodeEvents(columns) -> Buffer holding one batch payload (replay input to the engine).
Napi::Value EncodeEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  size_t n = o.Get("n").As<Napi::Number>().Uint32Value();
  auto u64 = o.Get("seq").As<Napi::TypedArrayOf<uint64_t>>();
  auto pid = o.Get("pid").As<Napi::TypedArrayOf<int32_t>>();
  auto tid = o.Get("tid").As<Napi::TypedArrayOf<int32_t>>();
  auto nr = o.Get("nr").As<Napi::TypedArrayOf<int32_t>>();
  auto args = o.Get("args").As<Napi::TypedArrayOf<uint64_t>>();
  auto ret = o.Get("ret").As<Napi::TypedArrayOf<int64_t>>();
  auto enter = o.Get("enter_ns").As<Napi::TypedArrayOf<int64_t>>();
  auto dur = o.Get("dur_ns").As<Napi::TypedArrayOf<int64_t>>();
  auto kind = o.Get("kind").As<Napi::TypedArrayOf<uint8_t>>();
  if (u64.ElementLength() < n || pid.ElementLength() < n || tid.ElementLength() < n ||
      nr.ElementLength() < n || args.ElementLength() < n * 6 || ret.ElementLength() < n ||
      enter.ElementLength() < n || dur.ElementLength() < n || kind.ElementLength() < n) {
    Napi::TypeError::New(env, "encodeEvents: a column is shorter than n").ThrowAsJavaScriptException();
    return env.Null();
  }
  const char* names[rb::kVarColumns] = {"name", "resource", "data_in", "data_out"};
  Napi::TypedArrayOf<int32_t> offs[rb::kVarColumns];
  Napi::TypedArrayOf<uint8_t> data[rb::kVarColumns];
  for (size_t c = 0; c < rb::kVarColumns; c++) {
    Napi::Object col = o.Get(names[c]).As<Napi::Object>();
    offs[c] = col.Get("offsets").As<Napi::TypedArrayOf<int32_t>>();
    data[c] = col.Get("data").As<Napi::TypedArrayOf<uint8_t>>();
    if (offs[c].ElementLength() < n + 1) {
      Napi::TypeError::New(env, "encodeEvents: offsets too short").ThrowAsJavaScriptException();
      return env.Null();
    }
  }
  std::vector<rb::Event> events(n);
  for (size_t i = 0; i < n; i++) {
    rb::Event& e = events[i];
    e.seq = u64[i];
    e.pid = pid[i];
    e.tid = tid[i];
    e.nr = nr[i];
    for (int k = 0; k < 6; k++) e.args[k] = args[i * 6 + k];
    e.ret = ret[i];
    e.enter_ns = enter[i];
    e.dur_ns = dur[i];
    e.kind = kind[i];
    std::string* fields[rb::kVarColumns] = {&e.name, &e.resource, &e.data_in, &e.data_out};
    for (size_t c = 0; c < rb::kVarColumns; c++) {
      int32_t a = offs[c][i], b = offs[c][i + 1];
      if (a < 0 || b < a || static_cast<size_t>(b) > data[c].ElementLength()) {
        Napi::RangeError::New(env, "encodeEvents: offsets out of range").ThrowAsJavaScriptException();
        return env.Null();
      }
      fields[c]->assign(reinterpret_cast<const char*>(data[c].Data()) + a, static_cast<size_t>(b - a));
    }
  }
  std::string payload = rb::encode_batch(events);
  return Napi::Buffer<char>::Copy(env, payload.data(), payload.size());
}

// writeFrame(fd, type, data, close?): blocking; the engine reads its input before it starts.
Napi::Value WriteFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t type = info[1].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  bool close_after = info.Length() > 3 && info[3].ToBoolean();
  bool ok = rb::write_frame(fd, type, data.Data(), data.ByteLength());
  int err = errno;
  if (close_after) close(fd);
  if (!ok) {
    Napi::Error::New(env, std::string("the engine stopped reading its input: ") + strerror(err))
        .ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// syscallTable() -> one object per row of native/syscalls.cc with every column the table
// holds, in the table's own words. scripts/gen-syscall-table.js writes them into
// src/events/syscall-table.ts, the TypeScript view of the one table; nothing else reads it.
// nargs counts the real arguments (buffer slots described through another argument excluded).
Napi::Value SyscallTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<rb::SyscallSpec>& table = rb::syscall_table();
  Napi::Array rows = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); i++) {
    const rb::SyscallSpec& s = table[i];
    uint32_t nargs = 0;
    Napi::Array args = Napi::Array::New(env, s.nargs);
    for (uint8_t k = 0; k < s.nargs; k++) {
      const rb::ArgSpec& a = s.args[k];
      if (a.at < 0) nargs++;
      Napi::Object arg = Napi::Object::New(env);
      arg.Set("kind", rb::arg_kind_word(a.kind));
      arg.Set("size", rb::size_rule_word(a.size));
      arg.Set("ref", Napi::Number::New(env, a.ref));
      arg.Set("n", Napi::Number::New(env, a.n));
      arg.Set("at", Napi::Number::New(env, a.at));
      arg.Set("role", rb::role_word(a.role));
      arg.Set("ifArg", Napi::Number::New(env, a.if_arg));
      arg.Set("ifMask", Napi::Number::New(env, a.if_mask));
      args.Set(k, arg);
    }
    Napi::Array traits = Napi::Array::New(env);
    for (const char* w : rb::trait_words(s.traits)) traits.Set(traits.Length(), w);
    Napi::Object row = Napi::Object::New(env);
    row.Set("nr", Napi::Number::New(env, s.nr));
    row.Set("name", Napi::String::New(env, s.name));
    row.Set("cls", rb::class_word(s.cls));
    row.Set("fdEffect", rb::fd_effect_word(s.fd));
    row.Set("special", rb::special_word(s.special));
    row.Set("nargs", Napi::Number::New(env, nargs));
    row.Set("fdArg", Napi::Number::New(env, s.fd_arg));
    row.Set("pathArg", Napi::Number::New(env, s.path_arg));
    row.Set("dirfdArg", Napi::Number::New(env, s.dirfd_arg));
    row.Set("cloexecArg", Napi::Number::New(env, s.cloexec_arg));
    row.Set("nIn", Napi::Number::New(env, s.n_in));
    row.Set("nOut", Napi::Number::New(env, s.n_out));
    row.Set("args", args);
    row.Set("traits", traits);
    row.Set("flow", rb::flow_word(s.flow));
    row.Set("handler", rb::handler_word(s.handler));
    row.Set("clone", rb::clone_word(s.clone));
    row.Set("family", s.family);
    Napi::Array addr = Napi::Array::New(env, s.addr_ranges.size());
    for (size_t k = 0; k < s.addr_ranges.size(); k++) {
      Napi::Array range = Napi::Array::New(env, 2);
      range.Set(0u, Napi::Number::New(env, static_cast<double>(s.addr_ranges[k].first)));
      range.Set(1u, Napi::Number::New(env, static_cast<double>(s.addr_ranges[k].second)));
      addr.Set(static_cast<uint32_t>(k), range);
    }
    row.Set("addressFields", addr);
    if (s.tid_in.off >= 0) {
      Napi::Array tid = Napi::Array::New(env, 3);
      tid.Set(0u, Napi::Number::New(env, s.tid_in.off));
      tid.Set(1u, Napi::Number::New(env, s.tid_in.when));
      tid.Set(2u, Napi::Number::New(env, s.tid_in.value));
      row.Set("tidIn", tid);
    }
    rows.Set(static_cast<uint32_t>(i), row);
  }
  return rows;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnEngine", Napi::Function::New(env, SpawnEngine));
  exports.Set("decodeEvents", Napi::Function::New(env, DecodeEvents));
  exports.Set("encodeEvents", Napi::Function::New(env, EncodeEvents));
  exports.Set("writeFrame", Napi::Function::New(env, WriteFrame));
  exports.Set("syscallTable", Napi::Function::New(env, SyscallTable));
  return exports;
}

}  // namespace

NODE_API_MODULE(replaybook, Init)
