// RunOptions from the keyword arguments of vidinfer.batches()/run() (as the Python layer passes
// them: names as the CLI's flags, values as plain str/int/float/bool/list; None: not given).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "vidinfer/options.h"

namespace vidinfer {

// With a model file, its sidecar is read first (as the CLI does) and the given options override
// it. Throws vidinfer::Error on a bad value, with the CLI's words.
RunOptions options_from_python(const pybind11::dict& kw);

}  // namespace vidinfer
