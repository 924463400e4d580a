{
  "targets": [
    {
      "target_name": "memscope_bpf",
      "sources": [
        "src/addon.c",
        "src/object.c",
        "src/attach.c",
        "src/maps.c",
        "src/ringbuf.c",
        "src/log.c",
        "src/counters.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wno-unused-parameter", "-std=gnu11"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-lpthread"]
    }
  ]
}
