{
  "targets": [
    {
      "target_name": "sendfile",
      "sources": ["sendfile.c", "transfer-thread.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "receive",
      "sources": ["receive.c", "transfer-thread.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "memory",
      "sources": ["memory.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
