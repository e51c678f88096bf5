// The environment variables the vidinfer CLI reads, and nothing else does: the library takes every
// setting through its options (RunOptions::tuning), so that a program embedding it decides.
#pragma once

#include "vidinfer/options.h"

namespace vidinfer {

// Tuning from VIDINFER_NVDEC_PREPARE, VIDINFER_NVDEC_REUSE, VIDINFER_NVDEC_SERIAL_CREATE,
// VIDINFER_CUDA_GRAPH, VIDINFER_OVERLAP_HEAD (each "0" turns it off), VIDINFER_STREAM_PRIORITY
// (preprocess | model | equal), VIDINFER_PREPROCESS_KERNEL (direct) and VIDINFER_TRACE (0, 1, 2).
// Unset or unknown values keep the defaults.
Tuning tuning_from_environment();

// Makes LibTorch's OpenMP threads sleep while they wait instead of spinning (OMP_WAIT_POLICY=passive)
// unless the user set a policy: libgomp reads it only when it loads, so the process runs itself again
// with it set (once; nothing else changes). Why: on the CPU path the model's threads share the cores
// with the decoder's, and spinning threads on a busy machine made the default detector 15x slower
// (2-core Debian machine under load, batch 1: 0.32 fps with 2 spinning threads, 4.9 with 1 thread or
// passive waiting). Returns only if it did not re-run (already set, or the exec failed).
void prefer_passive_openmp(char** argv);

}  // namespace vidinfer
