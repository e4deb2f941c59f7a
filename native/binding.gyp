{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fexceptions"],
    "defines": ["NAPI_CPP_EXCEPTIONS"]
  },
  "targets": [
    {
      "target_name": "replaybook",
      "sources": ["addon.cc", "batch.cc", "syscalls.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "replaybook-engine",
      "type": "executable",
      "cflags": ["-pthread"],
      "ldflags": ["-pthread"],
      "sources": [
        "engine_main.cc", "batch.cc", "syscalls.cc", "tracer.cc", "capture.cc", "files.cc",
        "output.cc", "protocol.cc", "tools.cc", "recorder.cc", "resources.cc", "replayer.cc",
        "replay_control.cc", "replay_fast.cc", "replay_schedule.cc", "replay_serve.cc", "replay_stream.cc",
        "replay_signals.cc", "replay_placeholders.cc", "replay_ids.cc", "replay_gdb.cc", "gdbserver.cc", "replay_checkpoint.cc",
        "stream.cc", "inject.cc", "late_data.cc", "tsc.cc", "fast.cc"
      ]
    }
  ]
}
