#pragma once
// A Python model's output as a TorchScript value, for the heads: tensors, None, bools, ints, floats,
// strings, and tuples, lists and dicts (string or int keys) of them. Written here rather than taken
// from torch.jit's converter (torch/csrc/jit/python/pybind_utils.h): that one's symbols are not all
// exported by every torch (pip's 2.11 hides `_tryToInferTypeImpl`), so a module using it does not
// import there. Throws vidinfer::Error naming the first value it cannot take.
#include <pybind11/pybind11.h>
#include <torch/torch.h>

namespace vidinfer::python {

c10::IValue to_ivalue(pybind11::handle obj);

}  // namespace vidinfer::python
