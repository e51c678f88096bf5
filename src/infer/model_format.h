// Which format a model file is in (TorchScript, or an AOTInductor package), told from the file itself,
// and what an AOTInductor package says about itself (its metadata), read without loading it.
//
// Both formats are zip archives (PyTorch writes them with miniz, entries stored uncompressed), so the
// entry names decide: TorchScript has `<archive>/code/...` (the module's Python source) beside
// `<archive>/data.pkl`; an AOTInductor package (torch._inductor.aoti_compile_and_package) has
// `<archive>/data/aotinductor/<model>/...` (the compiled shared library, its wrapper source and
// `*_metadata.json`). A torch.save() file or a plain torch.export program (torch.export.save) is a
// zip with neither.
#pragma once

#include <map>
#include <string>

namespace vidinfer {

enum class ModelFormat { TorchScript, AotiPackage };

// Throws vidinfer::Error "cannot load model" naming `path`: missing, a directory, a zip archive that
// is neither format, or a `.pt2` file that is not a zip archive. Any other file that is not a zip is
// left to the TorchScript loader (which names what is wrong with it).
ModelFormat model_format(const std::string& path);

// Whether `path` is an AOTInductor package, as model_format() tells it; false (no error) for a file
// that is missing or not a model.
bool is_aoti_package(const std::string& path);

// The package's metadata: the `*_metadata.json` of its model "model" (AOTInductor's own keys, e.g.
// AOTI_DEVICE_KEY = "cuda" | "cpu", and those given at compile time through the inductor config
// `aot_inductor.metadata`, e.g. scripts/export-model's `vidinfer.*` keys). Empty when the archive has
// none or it cannot be read (not a zip, a compressed entry).
std::map<std::string, std::string> aoti_package_metadata(const std::string& path);

// Whether this build can load AOTInductor packages (LibTorch with AOTInductor's package loader).
bool aoti_supported();
// The LibTorch this build was compiled against ("1.13.0", "2.11.0").
std::string torch_version();

}  // namespace vidinfer
