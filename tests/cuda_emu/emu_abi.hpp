// The interface between the CUDA emulator (emulator.cpp) and the modules it
// compiles: each module is CUDA C++ compiled for the host with the shim of
// emu_shim.inc prepended; the emulator hands it a KilnEmuRuntime (through
// the module's kiln_emu_bind) and the shim's CUDA built-ins call back
// through it. The declarations are written once, in a macro, so the
// emulator compiles them and embeds the very same text in every module.
#pragma once

#define KILN_EMU_ABI_VERSION 1

// clang-format off
#define KILN_EMU_ABI_DECLS                                                                        \
  struct KilnEmuDim3 { unsigned x, y, z; };                                                       \
  /* What a running thread reads: threadIdx, blockIdx, blockDim, gridDim. */                     \
  struct KilnEmuThread { KilnEmuDim3 thread_idx, block_idx, block_dim, grid_dim; };               \
  struct KilnEmuRuntime {                                                                         \
    int version;                                                                                  \
    /* the running thread (the current fiber) */                                                 \
    KilnEmuThread* const* current;                                                                \
    void (*syncthreads)();                                                                        \
    void (*syncwarp)(unsigned mask);                                                              \
    /* mode 0 idx, 1 up, 2 down, 3 xor; *value (bytes <= 8) in and out */                        \
    void (*shfl)(unsigned mask, void* value, int bytes, int mode, int b, int width);              \
    /* mode 0 ballot, 1 any, 2 all */                                                             \
    unsigned (*vote)(unsigned mask, int pred, int mode);                                          \
    unsigned (*activemask)();                                                                     \
    /* ends the launch with an error; never returns */                                            \
    void (*trap)(const char* why);                                                                \
  };
// clang-format on

#define KILN_EMU_STR2(...) #__VA_ARGS__
#define KILN_EMU_STR(...) KILN_EMU_STR2(__VA_ARGS__)
