// Model formats (model_format.h): a zip archive's entry names, read from its central directory (a
// few dozen lines here rather than a zip library: only names, and small stored entries, are needed).
#include "infer/model_format.h"

#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "vidinfer/error.h"

namespace vidinfer {
namespace {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0: stored
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

uint64_t le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

bool read_at(std::ifstream& f, uint64_t offset, std::vector<uint8_t>& buf, size_t n) {
  buf.resize(n);
  f.clear();
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
  return static_cast<size_t>(f.gcount()) == n;
}

// The central directory's entries; nullopt when the file is not a zip archive (or a damaged one).
std::optional<std::vector<ZipEntry>> zip_entries(const std::string& path) {
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec || file_size < 22) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  // The end-of-central-directory record: 22 bytes, then a comment of up to 65535.
  const uint64_t tail = std::min<uint64_t>(file_size, 22 + 65535);
  std::vector<uint8_t> buf;
  if (!read_at(f, file_size - tail, buf, tail)) return std::nullopt;
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i)
    if (le(&buf[i], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) return std::nullopt;
  const uint64_t eocd_at = file_size - tail + static_cast<uint64_t>(eocd);
  uint64_t count = le(&buf[eocd + 10], 2), cd_size = le(&buf[eocd + 12], 4), cd_offset = le(&buf[eocd + 16], 4);
  if ((count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) && eocd_at >= 20) {
    // Zip64: the locator just before the record points at the zip64 end record.
    std::vector<uint8_t> loc, rec;
    if (!read_at(f, eocd_at - 20, loc, 20) || le(loc.data(), 4) != 0x07064b50) return std::nullopt;
    if (!read_at(f, le(&loc[8], 8), rec, 56) || le(rec.data(), 4) != 0x06064b50) return std::nullopt;
    count = le(&rec[32], 8);
    cd_size = le(&rec[40], 8);
    cd_offset = le(&rec[48], 8);
  }
  if (cd_offset > file_size || cd_size > file_size - cd_offset || cd_size > (256u << 20)) return std::nullopt;
  std::vector<uint8_t> cd;
  if (!read_at(f, cd_offset, cd, cd_size)) return std::nullopt;
  std::vector<ZipEntry> entries;
  size_t p = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (p + 46 > cd.size() || le(&cd[p], 4) != 0x02014b50) return std::nullopt;
    const size_t name_len = le(&cd[p + 28], 2), extra_len = le(&cd[p + 30], 2), comment_len = le(&cd[p + 32], 2);
    if (p + 46 + name_len + extra_len + comment_len > cd.size()) return std::nullopt;
    ZipEntry e;
    e.method = static_cast<uint16_t>(le(&cd[p + 10], 2));
    e.compressed = le(&cd[p + 20], 4);
    e.size = le(&cd[p + 24], 4);
    e.local_offset = le(&cd[p + 42], 4);
    e.name.assign(reinterpret_cast<const char*>(&cd[p + 46]), name_len);
    // Zip64 sizes and offset, in this order, for the fields that hold 0xFFFFFFFF.
    for (size_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
      const uint64_t id = le(&cd[x], 2), len = le(&cd[x + 2], 2);
      size_t v = x + 4;
      const size_t end = std::min<size_t>(v + len, p + 46 + name_len + extra_len);
      if (id == 0x0001) {
        for (uint64_t* field : {&e.size, &e.compressed, &e.local_offset})
          if (*field == 0xFFFFFFFF && v + 8 <= end) {
            *field = le(&cd[v], 8);
            v += 8;
          }
      }
      x += 4 + len;
    }
    entries.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  return entries;
}

// A stored (uncompressed) entry's bytes; nullopt for a compressed one or one that cannot be read.
std::optional<std::string> read_stored(const std::string& path, const ZipEntry& e) {
  if (e.method != 0 || e.size != e.compressed || e.size > (16u << 20)) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> local, data;
  if (!f || !read_at(f, e.local_offset, local, 30) || le(local.data(), 4) != 0x04034b50) return std::nullopt;
  const uint64_t at = e.local_offset + 30 + le(&local[26], 2) + le(&local[28], 2);
  if (!read_at(f, at, data, e.size)) return std::nullopt;
  return std::string(data.begin(), data.end());
}

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

// "data/aotinductor/" at the start of the name or after its archive folder.
size_t aoti_dir_at(const std::string& name) {
  static const std::string kDir = "data/aotinductor/";
  if (name.rfind(kDir, 0) == 0) return 0;
  const size_t at = name.find("/" + kDir);
  return at == std::string::npos ? std::string::npos : at + 1;
}

bool is_torchscript_entry(const std::string& name) {
  return name.rfind("code/", 0) == 0 || name.find("/code/") != std::string::npos;
}

bool has_pt2_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".pt2";
}

}  // namespace

ModelFormat model_format(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("cannot load model", path, "file not found");
  if (std::filesystem::is_directory(path, ec)) throw Error("cannot load model", path, "is a directory");
  const auto entries = zip_entries(path);
  if (!entries) {
    if (has_pt2_extension(path))
      throw Error("cannot load model", path, "not an AOTInductor package (.pt2): not a zip archive");
    return ModelFormat::TorchScript;  // its loader says what is wrong
  }
  bool torchscript = false;
  for (const auto& e : *entries) {
    if (aoti_dir_at(e.name) != std::string::npos) return ModelFormat::AotiPackage;
    torchscript = torchscript || is_torchscript_entry(e.name);
  }
  if (torchscript) return ModelFormat::TorchScript;
  throw Error("cannot load model", path,
              "a zip archive that is neither TorchScript (no code/ entries) nor an AOTInductor package (no "
              "data/aotinductor/ entries); a torch.save() file or a torch.export program must first be compiled "
              "(scripts/export-model, or torch._inductor.aoti_compile_and_package)");
}

bool is_aoti_package(const std::string& path) {
  try {
    return model_format(path) == ModelFormat::AotiPackage;
  } catch (const Error&) {
    return false;
  }
}

std::map<std::string, std::string> aoti_package_metadata(const std::string& path) {
  std::map<std::string, std::string> out;
  const auto entries = zip_entries(path);
  if (!entries) return out;
  for (const auto& e : *entries) {
    const size_t at = aoti_dir_at(e.name);
    // <archive>/data/aotinductor/model/<hash>.wrapper_metadata.json (AOTIModelPackageLoader reads
    // the one beside the wrapper's source; the kernels' metadata file holds the same keys).
    if (at == std::string::npos || e.name.compare(at + 17, 6, "model/") != 0 || !ends_with(e.name, "_metadata.json"))
      continue;
    const auto text = read_stored(path, e);
    if (!text) continue;
    try {
      const auto j = nlohmann::json::parse(*text);
      if (!j.is_object()) continue;
      for (const auto& [k, v] : j.items())
        if (v.is_string()) out[k] = v.get<std::string>();
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    if (ends_with(e.name, "wrapper_metadata.json")) break;  // the loader's own choice; else keep looking
  }
  return out;
}

bool aoti_supported() {
#ifdef VIDINFER_HAVE_AOTI
  return true;
#else
  return false;
#endif
}

std::string torch_version() { return TORCH_VERSION; }

}  // namespace vidinfer
