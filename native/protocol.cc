#include "protocol.h"

#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "inject.h"
#include "recorder.h"
#include "replayer.h"
#include "tools.h"

namespace rb {
namespace {

// A whole number, not negative (up to 2^53, which JSON and JavaScript hold exactly).
bool whole(const std::string& key, const std::string& v, uint64_t& out, std::string& err) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n > (uint64_t(1) << 53)) {
    err = key + " needs a whole number, not '" + v + "'";
    return false;
  }
  out = n;
  return true;
}

// A 64-bit value: decimal, negative ones taken modulo 2^64.
bool integer(const std::string& v, int64_t& out) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = v[0] == '-' ? std::strtoll(v.c_str(), &end, 10) : static_cast<int64_t>(std::strtoull(v.c_str(), &end, 10));
  return end && *end == '\0' && errno == 0;
}

bool flag(const std::string& key, const std::string& v, bool& out, std::string& err) {
  if (v != "0" && v != "1") {
    err = key + " needs 0 or 1, not '" + v + "'";
    return false;
  }
  out = v == "1";
  return true;
}

// A speed factor: positive and finite, or "max" (0).
bool speed_value(const std::string& v, double& out, std::string& err) {
  if (v == "max") {
    out = 0;
    return true;
  }
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x > 0) || !std::isfinite(x)) {
    err = "speed needs a positive number or max, not '" + v + "'";
    return false;
  }
  out = x;
  return true;
}

// The text after "inject ": ID KIND key=value... (inject.h lists the keys).
bool parse_injection(const std::string& text, Injection& inj, std::string& err) {
  std::istringstream in(text);
  std::string kind, kv;
  in >> inj.id >> kind;
  inj.id = percent_decode(inj.id);
  if (kind == "delay") inj.kind = Injection::Delay;
  else if (kind == "fail") inj.kind = Injection::Fail;
  else if (kind == "latency") inj.kind = Injection::Latency;
  else if (kind == "timeout") inj.kind = Injection::Timeout;
  else if (kind == "signal") {
    err = "injection " + inj.id + ": signal injections are not supported by this engine yet";
    return false;
  } else {
    err = "injection " + inj.id + ": unknown kind '" + kind + "'";
    return false;
  }
  while (in >> kv) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      err = "injection " + inj.id + ": '" + kv + "' is not key=value";
      return false;
    }
    std::string k = kv.substr(0, eq), v = percent_decode(kv.substr(eq + 1));
    int64_t n = 0;
    bool num = integer(v, n);
    if (k == "syscalls") {
      std::istringstream names(v);
      std::string name;
      while (std::getline(names, name, ',')) if (!name.empty()) inj.syscalls.push_back(name);
    } else if (k == "resource") {
      inj.resource = v;
    } else if (k == "syscall") {
      inj.timeout_syscall = v;
    } else if (k == "when") {
      std::istringstream w(v);
      std::string a, b, c;
      std::getline(w, a, ',');
      std::getline(w, b, ',');
      std::getline(w, c, ',');
      if (!whole("when", a, inj.first, err) || !whole("when", b, inj.last, err) || !whole("when", c, inj.step, err)) {
        err = "injection " + inj.id + ": " + err;
        return false;
      }
      if (inj.first == 0 || inj.step == 0) {
        err = "injection " + inj.id + ": when needs FIRST >= 1 and STEP >= 1";
        return false;
      }
    } else if (!num) {
      err = "injection " + inj.id + ": " + k + " must be a number, not '" + v + "'";
      return false;
    } else if (k == "pid") inj.pid = n;
    else if (k == "tid") inj.tid = n;
    else if (k.size() == 4 && k.rfind("arg", 0) == 0 && k[3] >= '0' && k[3] <= '5')
      inj.args.push_back({k[3] - '0', static_cast<uint64_t>(n), false});
    else if (k.size() == 8 && k.rfind("argmask", 0) == 0 && k[7] >= '0' && k[7] <= '5')
      inj.args.push_back({k[7] - '0', static_cast<uint64_t>(n), true});
    else if (k == "enter_us") inj.enter_us = n;
    else if (k == "exit_us") inj.exit_us = n;
    else if (k == "errno") inj.err = n;
    else if (k == "retval") {
      inj.has_retval = true;
      inj.retval = n;
    } else if (k == "us") inj.latency_us = n;
    else if (k == "value_us") inj.timeout_us = n;
    else {
      err = "injection " + inj.id + ": unknown key '" + k + "'";
      return false;
    }
  }
  return inj.complete(err);
}

}  // namespace

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool parse_config(const std::string& text, EngineConfig& c, RecordOptions& record, ReplayOptions& replay,
                  std::string& err) {
  std::istringstream in(text);
  std::string line;
  bool versioned = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key, w1, w2;
    ls >> key;
    if (!versioned) {
      ls >> w1;
      if (key != "version") {
        err = "the config does not start with a protocol version: this engine (protocol " +
              std::to_string(kProtocolVersion) + ") is newer than the library that started it; rebuild with `npm run build`";
        return false;
      }
      if (w1 != std::to_string(kProtocolVersion)) {
        err = "the library speaks engine protocol " + w1 + ", this engine speaks " + std::to_string(kProtocolVersion) +
              ": rebuild the engine with `npm run build`";
        return false;
      }
      versioned = true;
      continue;
    }
    if (key == "inject") {
      std::string rest;
      std::getline(ls, rest);
      Injection inj;
      if (!parse_injection(rest, inj, err)) return false;
      replay.injections.push_back(std::move(inj));
      continue;
    }
    ls >> w1 >> w2;
    std::string v1 = percent_decode(w1), v2 = percent_decode(w2);
    uint64_t n = 0;
    bool ok = true;
    if (key == "mode") c.mode = v1;
    else if (key == "exe") c.spawn.exe = v1;
    else if (key == "arg") c.spawn.argv.push_back(v1);
    else if (key == "env") c.spawn.env.push_back(v1);
    else if (key == "cwd") c.spawn.cwd = v1;
    else if (key == "pin") ok = flag(key, v1, c.spawn.pin, err);
    else if (key == "fixed_addresses") ok = flag(key, v1, c.spawn.fixed_addresses, err);
    else if (key == "cpuid_required") ok = flag(key, v1, c.cpuid_required, err);
    else if (key == "speed") ok = speed_value(v1, replay.speed, err);
    else if (key == "file") replay.files[v1] = v2;
    else if (key == "isolate_network") ok = flag(key, v1, c.isolate_network, err);
    else if (key == "pause_at") ok = whole(key, v1, replay.pause_at, err);
    else if (key == "start_paused") ok = flag(key, v1, replay.start_paused, err);
    else if (key == "checkpoints") ok = flag(key, v1, replay.checkpoints, err);
    else if (key == "in_process") ok = flag(key, v1, replay.in_process, err);
    else if (key == "counterfactual") ok = flag(key, v1, replay.counterfactual, err);
    else if (key == "jitter") {
      ok = whole(key, v1, n, err) && whole(key, v2, replay.seed, err);
      replay.jitter_us = static_cast<int64_t>(n);
    } else if (key == "unrecorded") {
      if (v1 != "error" && v1 != "refuse") {
        err = "unrecorded needs error or refuse, not '" + v1 + "'";
        return false;
      }
      replay.refuse_unrecorded = v1 == "refuse";
    } else if (key == "edit_file") replay.edited_files[v1] = v2;
    else if (key == "late_data") ok = flag(key, v1, record.late.enabled, err);
    else if (key == "late_data_ms") {
      ok = whole(key, v1, n, err);
      record.late.linger_ms = static_cast<int64_t>(n);
    } else if (key == "late_data_bytes") ok = whole(key, v1, record.late.max_bytes, err);
    else if (key == "late_data_sockets") ok = whole(key, v1, record.late.max_sockets, err);
    else if (key == "capture_dir") record.capture_dir = v1;
    else if (key == "spool") record.spool = v1;
    else if (key == "max_events") ok = whole(key, v1, record.budget.max_events, err);
    else if (key == "max_bytes") ok = whole(key, v1, record.budget.max_bytes, err);
    else if (key == "signal_defer_ms") {
      ok = whole(key, v1, n, err);
      record.signal_defer_ms = static_cast<int64_t>(n);
    }
    else if (key == "fast") ok = flag(key, v1, record.fast.enabled, err);
    else if (key == "ring_wait_ms") {
      ok = whole(key, v1, n, err);
      record.fast.ring_wait_ms = static_cast<int64_t>(n);
    } else if (key == "schedule") {
      if (v1 != "serial" && v1 != "parallel") {
        err = "schedule needs serial or parallel, not '" + v1 + "'";
        return false;
      }
      record.parallel = v1 == "parallel";
    }
    else {
      err = "unknown config key " + key;
      return false;
    }
    if (!ok) return false;
  }
  if (!versioned) {
    err = "the config is empty";
    return false;
  }
  if (c.mode != "record" && c.mode != "replay") {
    err = "mode must be record or replay";
    return false;
  }
  if (c.spawn.exe.empty() || c.spawn.argv.empty()) {
    err = "no command to run";
    return false;
  }
  record.pinned = c.spawn.pin;
  c.spawn.fast = c.mode == "record" && record.fast.enabled;
  return true;
}

bool parse_control(const std::string& line, ControlVerb& v, std::string& err) {
  if (line.rfind("injections", 0) == 0 && (line.size() == 10 || line[10] == '\n')) {
    // injections\ninject ID KIND ...\n...: replaces the paused replay's injection set
    v.kind = ControlVerb::Injections;
    std::istringstream lines(line);
    std::string l;
    std::getline(lines, l);
    while (std::getline(lines, l)) {
      if (l.empty()) continue;
      if (l.rfind("inject ", 0) != 0) {
        err = "injections: each line after the first is `inject ID KIND key=value...`, not '" + l + "'";
        return false;
      }
      Injection inj;
      if (!parse_injection(l.substr(7), inj, err)) return false;
      v.injections.push_back(std::move(inj));
    }
    return true;
  }
  std::istringstream in(line);
  std::string verb, a, b, c;
  in >> verb >> a >> b >> c;
  int64_t tid = 0;
  if (verb == "pause") v.kind = ControlVerb::Pause;
  else if (verb == "resume") v.kind = ControlVerb::Resume;
  else if (verb == "state") v.kind = ControlVerb::State;
  else if (verb == "stop") v.kind = ControlVerb::Stop;
  else if (verb == "step") {
    v.kind = ControlVerb::Step;
    if (!a.empty() && !whole("step", a, v.n, err)) return false;
    if (v.n == 0) v.n = 1;
  } else if (verb == "speed") {
    v.kind = ControlVerb::Speed;
    if (!speed_value(a, v.speed, err)) return false;
  } else if (verb == "until") {
    v.kind = ControlVerb::Until;
    if (!whole("until", a, v.seq, err)) return false;
  } else if (verb == "goto") {
    v.kind = ControlVerb::Goto;
    if (!whole("goto", a, v.seq, err)) return false;
  } else if (verb == "gdbserver") {
    v.kind = ControlVerb::Gdbserver;
    if (!whole("gdbserver", a, v.port, err)) return false;
    if (v.port > 65535) {
      err = "gdbserver needs a TCP port (0 to 65535), not " + a;
      return false;
    }
  } else if (verb == "read") {
    v.kind = ControlVerb::Read;
    int64_t addr = 0;
    if (!integer(a, tid) || !integer(b, addr) || !whole("read", c, v.len, err)) {
      err = "read needs TID ADDR LEN, not '" + line + "'";
      return false;
    }
    v.tid = static_cast<pid_t>(tid);
    v.addr = static_cast<uint64_t>(addr);
  } else {
    err = "unknown control verb '" + verb + "'";
    return false;
  }
  return true;
}

// ---- the JSON writer ----

void JsonWriter::comma() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (first_.empty()) return;
  if (!first_.back()) out_ += ',';
  first_.back() = false;
}

JsonWriter& JsonWriter::begin_object() {
  comma();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  comma();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::key(const char* k) {
  str(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0.
static size_t utf8_len(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
  if (c == 0xe0 && c1 < 0xa0) return 0;  // overlong
  if (c == 0xed && c1 >= 0xa0) return 0;  // surrogate
  if (c == 0xf0 && c1 < 0x90) return 0;  // overlong
  if (c == 0xf4 && c1 >= 0x90) return 0;  // past U+10FFFF
  return n;
}

JsonWriter& JsonWriter::str(const std::string& s) {
  comma();
  out_ += '"';
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out_ += "\\\""; continue;
      case '\\': out_ += "\\\\"; continue;
      case '\n': out_ += "\\n"; continue;
      case '\t': out_ += "\\t"; continue;
      case '\r': out_ += "\\r"; continue;
      default: break;
    }
    if (c >= 0x80) {
      size_t n = utf8_len(s, i);
      if (n > 0) {
        out_.append(s, i, n);
        i += n - 1;
        continue;
      }
    }
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out_ += buf;
    } else {
      out_ += static_cast<char>(c);
    }
  }
  out_ += '"';
  return *this;
}

JsonWriter& JsonWriter::i64(int64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::u64(uint64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::f64(double v) {
  if (!std::isfinite(v)) return null();
  comma();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out_ += buf;
  return *this;
}
JsonWriter& JsonWriter::boolean(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null() {
  comma();
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::dec(uint64_t v) { return str(std::to_string(v)); }
JsonWriter& JsonWriter::sdec(int64_t v) { return str(std::to_string(v)); }
JsonWriter& JsonWriter::bytes(const std::string& b) { return str(base64(b)); }

std::string base64(const std::string& s) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == s.size()) {
    uint32_t v = uint8_t(s[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// ---- messages ----

namespace {

JsonWriter message(const char* type) {
  JsonWriter w;
  w.begin_object().key("type").str(type);
  return w;
}

std::string done(JsonWriter& w) {
  w.end_object();
  return w.text();
}

void exit_status(JsonWriter& w, int status) {
  w.key("exit_code");
  if (WIFEXITED(status)) w.i64(WEXITSTATUS(status));
  else w.null();
  w.key("signal");
  if (WIFEXITED(status)) w.null();
  else w.str(signal_name(WTERMSIG(status)));
}

void call(JsonWriter& w, const Event& e) {
  w.begin_object().key("name").str(e.name).key("nr").i64(e.nr).key("args").begin_array();
  for (uint64_t a : e.args) w.dec(a);
  w.end_array().key("resource").str(e.resource).key("data_in").bytes(e.data_in).end_object();
}

}  // namespace

std::string started_message(int cpu, bool aslr) {
  JsonWriter w = message("started");
  w.key("protocol").i64(kProtocolVersion).key("cpu").i64(cpu).key("aslr").boolean(aslr);
  return done(w);
}

std::string error_message(const std::string& code, const std::string& text) {
  JsonWriter w = message("error");
  w.key("code").str(code).key("message").str(text);
  return done(w);
}

std::string warning_message(const std::string& code, const std::string& text) {
  JsonWriter w = message("warning");
  w.key("code").str(code).key("message").str(text);
  return done(w);
}

std::string fast_message(uint64_t calls, uint64_t sites, uint64_t lossy_from) {
  JsonWriter w = message("fast");
  w.key("calls").u64(calls).key("sites").u64(sites).key("lossy_from");
  if (lossy_from == ~0ull) w.null();
  else w.u64(lossy_from);
  return done(w);
}

std::string file_message(const char* role, const std::string& path, bool copied, const std::string& copy,
                         const std::string& error) {
  JsonWriter w = message("file");
  w.key("role").str(role).key("path").str(path);
  if (copied && !copy.empty()) w.key("copy").str(copy);
  else if (copied) w.key("error").str(error);
  return done(w);
}

std::string exit_message(int status) {
  JsonWriter w = message("exit");
  exit_status(w, status);
  return done(w);
}

std::string spooled_message(uint64_t events, uint64_t bytes) {
  JsonWriter w = message("spooled");
  w.key("events").u64(events).key("bytes").u64(bytes);
  return done(w);
}

std::string budget_message(const char* what, uint64_t limit) {
  JsonWriter w = message("budget");
  w.key("what").str(what).key("limit").u64(limit);
  return done(w);
}

std::string replay_exit_message(int status, const ReplayReport& r) {
  static const char* kinds[] = {"delay", "fail", "latency", "timeout"};
  JsonWriter w = message("exit");
  exit_status(w, status);
  w.key("consumed").u64(r.consumed).key("log_events").u64(r.log_events).key("in_process").u64(r.in_process);
  w.key("policy").str(r.stream ? "stream" : "strict").key("switched_at");
  if (r.stream) w.u64(r.switched_at);
  else w.null();
  w.key("injections").begin_array();
  if (r.injections) {
    for (const Injection& i : *r.injections) {
      w.begin_object().key("id").str(i.id).key("kind").str(kinds[i.kind]);
      w.key("matched").u64(i.seen).key("fired").u64(i.fired).end_object();
    }
  }
  w.end_array();
  return done(w);
}

std::string paused_message(const char* reason, uint64_t seq) {
  JsonWriter w = message("paused");
  w.key("reason").str(reason).key("seq").u64(seq);
  return done(w);
}

std::string policy_message(uint64_t seq, const std::string& reason) {
  JsonWriter w = message("policy");
  w.key("policy").str("stream").key("seq").u64(seq).key("reason").str(reason);
  return done(w);
}

std::string unrecorded_message(bool refuse, const std::string& name, int64_t tid, const std::string& reason) {
  JsonWriter w = message("unrecorded");
  w.key("policy").str(refuse ? "refuse" : "error").key("name").str(name).key("tid").i64(tid);
  w.key("reason").str(reason);
  return done(w);
}

std::string divergence_message(uint64_t seq, int64_t tid, uint64_t ip, const std::string& reason,
                               const Event* expected, const Event& actual) {
  JsonWriter w = message("divergence");
  w.key("seq").u64(seq).key("tid").i64(tid).key("ip").dec(ip).key("reason").str(reason);
  w.key("expected");
  if (expected) call(w, *expected);
  else w.null();
  w.key("actual");
  call(w, actual);
  return done(w);
}

std::string checkpoint_message(uint64_t seq, size_t count, int64_t us, int64_t pss_kb, int64_t dropped,
                               const std::string& refused) {
  JsonWriter w = message("checkpoint");
  w.key("seq").u64(seq).key("count").u64(count).key("us").i64(us).key("pss_kb").i64(pss_kb);
  w.key("dropped").i64(dropped).key("refused");
  if (refused.empty()) w.null();
  else w.str(refused);
  return done(w);
}

std::string restored_message(bool restored, uint64_t seq, uint64_t served, const std::string& reason) {
  JsonWriter w = message("restored");
  w.key("restored").boolean(restored).key("seq").u64(seq).key("served").u64(served).key("reason").str(reason);
  return done(w);
}

std::string gdbserver_message(int port, const std::string& error) {
  JsonWriter w = message("gdbserver");
  w.key("port").i64(port).key("error");
  if (error.empty()) w.null();
  else w.str(error);
  return done(w);
}

std::string memory_message(uint64_t addr, const std::string& error, const std::string& bytes) {
  JsonWriter w = message("memory");
  w.key("addr").dec(addr).key("error");
  if (error.empty()) w.null();
  else w.str(error);
  w.key("data").bytes(error.empty() ? bytes : std::string());
  return done(w);
}

std::string state_message(const StateReport& s) {
  JsonWriter w = message("state");
  w.key("paused").boolean(s.paused).key("seq").u64(s.seq).key("served").u64(s.served).key("speed");
  if (s.speed > 0) w.f64(s.speed);
  else w.str("max");
  w.key("virtual_ns").sdec(s.virtual_ns).key("next");
  if (s.next) call(w, *s.next);
  else w.null();
  w.key("next_tid");
  if (s.next) w.i64(s.next->tid);
  else w.null();
  w.key("threads").begin_array();
  for (const ThreadReport& t : s.threads)
    w.begin_object().key("tid").i64(t.tid).key("real_tid").i64(t.real_tid).key("state").str(t.state).end_object();
  w.end_array().key("regs");
  if (s.regs) {
    const user_regs_struct& r = *s.regs;
    w.begin_object();
    w.key("rip").dec(r.rip).key("rsp").dec(r.rsp).key("rbp").dec(r.rbp).key("rax").dec(r.orig_rax);
    w.key("rdi").dec(r.rdi).key("rsi").dec(r.rsi).key("rdx").dec(r.rdx).key("r10").dec(r.r10);
    w.key("r8").dec(r.r8).key("r9").dec(r.r9);
    w.end_object();
  } else {
    w.null();
  }
  return done(w);
}

}  // namespace rb
