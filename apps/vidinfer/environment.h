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

}  // namespace vidinfer
