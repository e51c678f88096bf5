// Checks of a model's output: which rows (frames) of a batch hold a NaN or an infinity. NaNs often
// depend on the frames (a black frame and a division), so the pipeline fails the input whose frame it
// was, not the run, nor the other inputs that share the batch.
#pragma once

#include <torch/script.h>

#include <vector>

namespace vidinfer {

// Marks, per row of a batch of `n`, whether the model's output `v` for it holds a NaN or an infinity:
// rows[r] becomes "NaN" or "Inf" (the first found; rows already marked stay). Walks tensors inside
// tuples, lists and dicts; a tensor whose first dimension is not the batch marks every row; a list of
// `n` per-image results (torchvision style) marks the row by its position. One pass and one host
// copy for the whole output when every value is finite (the usual case).
void non_finite_rows(const torch::jit::IValue& v, int n, std::vector<const char*>& rows);

}  // namespace vidinfer
