// Safetensors reading and writing. The header comes from files we did not write, so every value in
// it is checked before use: sizes and offsets with overflow-safe arithmetic, JSON types explicitly,
// nesting depth bounded. Tensor data is never copied; views point into the read-only mapping.
#include "format/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "util/error.h"

namespace ollmlx::format {
namespace {

using nlohmann::json;

constexpr const char* kSub = "safetensors";
// Real headers are a few MB even for models with 100k tensors; anything larger is hostile.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Legit headers nest 3 deep (root > entry > shape); allow some slack for future fields.
constexpr int kMaxJsonDepth = 16;
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON integer >= 0 (signed or unsigned storage); floats, strings etc. are rejected.
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

json parse_header_json(const uint8_t* begin, const uint8_t* end, const std::string& file) {
  std::set<std::string> keys;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw_error(kSub, "{}: header JSON nested too deeply", file);
    // Keys at depth 1 are the root object's keys; nlohmann would silently keep the last one.
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string() &&
        !keys.insert(parsed.get<std::string>()).second)
      throw_error(kSub, "{}: tensor '{}' appears twice in the header", file,
                  printable(parsed.get<std::string>()));
    return true;
  };
  try {
    return json::parse(begin, end, check);
  } catch (const json::exception& e) {
    throw_error(kSub, "{}: header is not valid JSON: {}", file, e.what());
  }
}

TensorEntry parse_entry(const std::string& name, const json& v, uint64_t data_size,
                        const std::string& file) {
  if (!v.is_object())
    throw_error(kSub, "{}: tensor '{}' entry must be a JSON object", file, printable(name));
  TensorEntry e;
  e.name = name;
  const std::string shown = printable(name);

  auto dt = v.find("dtype");
  if (dt == v.end()) throw_error(kSub, "{}: tensor '{}' has no field 'dtype'", file, shown);
  if (!dt->is_string())
    throw_error(kSub, "{}: tensor '{}' field 'dtype' must be a string", file, shown);
  std::optional<DType> dtype = parse_dtype(dt->get_ref<const std::string&>());
  if (!dtype)
    throw_error(kSub, "{}: tensor '{}' has unknown dtype '{}'", file, shown,
                printable(dt->get_ref<const std::string&>()));
  e.dtype = *dtype;

  auto sh = v.find("shape");
  if (sh == v.end()) throw_error(kSub, "{}: tensor '{}' has no field 'shape'", file, shown);
  if (!sh->is_array())
    throw_error(kSub, "{}: tensor '{}' field 'shape' must be an array", file, shown);
  // The running product must fit int64 exactly as Tensor::numel() computes it (left to right).
  uint64_t numel = 1;
  for (const json& d : *sh) {
    uint64_t dim = 0;
    if (!as_u64(d, &dim) || dim > kMaxInt64)
      throw_error(kSub, "{}: tensor '{}' field 'shape' must hold non-negative integers", file,
                  shown);
    e.shape.push_back(static_cast<int64_t>(dim));
    if (__builtin_mul_overflow(numel, dim, &numel) || numel > kMaxInt64)
      throw_error(kSub, "{}: tensor '{}' shape {} has too many elements", file, shown,
                  shape_str(e.shape));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(e.dtype)), &nbytes))
    throw_error(kSub, "{}: tensor '{}' shape {} has too many bytes", file, shown,
                shape_str(e.shape));

  auto off = v.find("data_offsets");
  if (off == v.end()) throw_error(kSub, "{}: tensor '{}' has no field 'data_offsets'", file, shown);
  if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], &e.begin) ||
      !as_u64((*off)[1], &e.end))
    throw_error(kSub, "{}: tensor '{}' field 'data_offsets' must be [begin, end] (integers >= 0)",
                file, shown);
  if (e.begin > e.end)
    throw_error(kSub, "{}: tensor '{}' data_offsets begin {} is after end {}", file, shown, e.begin,
                e.end);
  if (e.end > data_size)
    throw_error(kSub, "{}: tensor '{}' offset past end of file (end {}, data region {} bytes)",
                file, shown, e.end, data_size);
  if (e.end - e.begin != nbytes)
    throw_error(kSub, "{}: tensor '{}' shape {} {} needs {} bytes but data_offsets span {}", file,
                shown, shape_str(e.shape), dtype_name(e.dtype), nbytes, e.end - e.begin);
  return e;
}

void parse_metadata(const json& v, SafetensorsHeader* h, const std::string& file) {
  if (!v.is_object()) throw_error(kSub, "{}: '__metadata__' must be a JSON object", file);
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      throw_error(kSub, "{}: '__metadata__' value for '{}' must be a string", file, printable(key));
    h->metadata[key] = value.get<std::string>();
  }
}

// Zero-byte tensors occupy nothing, so they may sit anywhere (safetensors allows begin == end).
void check_no_overlap(const SafetensorsHeader& h, const std::string& file) {
  std::vector<const TensorEntry*> sorted;
  for (const auto& [name, e] : h.tensors)
    if (e.end > e.begin) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  // Sorted by begin, and each checked pair passed: ends increase too, so neighbours suffice.
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end)
      throw_error(kSub, "{}: tensor '{}' overlaps tensor '{}'", file, printable(sorted[i]->name),
                  printable(sorted[i - 1]->name));
}

void write_le64(std::ostream& os, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  os.write(b, 8);
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& display_name) {
  const std::string& file = display_name;
  if (size < 8)
    throw_error(kSub, "{}: file too short ({} bytes) to hold a safetensors header", file, size);
  const uint64_t header_len = read_le64(data);
  if (header_len > kMaxHeaderBytes)
    throw_error(kSub, "{}: header length {} exceeds the {} byte limit", file, header_len,
                kMaxHeaderBytes);
  if (header_len > size - 8)
    throw_error(kSub, "{}: header length {} past end of file ({} bytes)", file, header_len, size);

  SafetensorsHeader h;
  h.data_start = 8 + header_len;
  const uint64_t data_size = size - h.data_start;
  const json root = parse_header_json(data + 8, data + h.data_start, file);
  if (!root.is_object()) throw_error(kSub, "{}: header is not a JSON object", file);
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      parse_metadata(value, &h, file);
    } else {
      h.tensors.emplace(key, parse_entry(key, value, data_size, file));
    }
  }
  check_no_overlap(h, file);
  return h;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::make_shared<SafetensorsFile>();
  f->file_ = MappedFile::open(path);
  f->header_ = parse_safetensors_header(f->file_->data(), f->file_->size(), path);
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = header_.tensors.find(name);
  return it == header_.tensors.end() ? nullptr : &it->second;
}

Tensor SafetensorsFile::view(const TensorEntry& e) const {
  // Entries come from our validated header; anything else is a caller bug.
  OLLMLX_ASSERT(e.begin <= e.end && e.end <= file_->size() - header_.data_start);
  Tensor t;
  t.dtype = e.dtype;
  t.shape = e.shape;
  // The mapping is PROT_READ: writing through this pointer faults. Tensor has no const flavour.
  t.data = const_cast<uint8_t*>(file_->data() + header_.data_start + e.begin);
  t.owner = file_;
  return t;
}

void SafetensorsFile::prefetch() const {
  file_->advise_willneed(header_.data_start, file_->size() - header_.data_start);
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw_error(kSub, "{}: cannot write tensor '{}' (duplicate or reserved name)", path, name);
    for (int64_t d : t.shape)
      if (d < 0) throw_error(kSub, "{}: tensor '{}' has a negative dimension", path, name);
    const uint64_t n = t.nbytes();
    if (n > 0 && t.data == nullptr) throw_error(kSub, "{}: tensor '{}' has no data", path, name);
    header[name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw_error(kSub, "{}: cannot encode header: {}", path, e.what());
  }
  // Pad with spaces so the data region starts 8-byte aligned, like the reference writer.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  if (!os) throw_error(kSub, "{}: cannot create file", path);
  write_le64(os, text.size());
  os.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, t] : tensors)
    if (t.nbytes() > 0)
      os.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.nbytes()));
  os.close();
  if (!os) throw_error(kSub, "{}: write failed", path);
}

}  // namespace ollmlx::format
