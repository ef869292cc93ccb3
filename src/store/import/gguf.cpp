// GGUF header parser (see gguf.h). All reads go through Cursor, which checks every length
// against the bytes left before touching memory.
#include "store/import/gguf.h"

#include <cstring>
#include <limits>

#include "util/error.h"

namespace ollmlx::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32

// Printable form of untrusted bytes for error messages (control bytes and non-ASCII as \xNN),
// cut to `max` bytes.
std::string printable(std::string_view s, size_t max = 80) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& file)
      : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error("gguf", file_ + ": " + fmt::format(format, std::forward<Args>(args)...));
  }

  void need(uint64_t n, std::string_view what) const {
    if (n > left())
      fail("truncated file: {} needs {} bytes at offset {}, only {} left", what, n, pos_, left());
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view string(std::string_view what) {
    const uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

  void skip(uint64_t n, std::string_view what) {
    need(n, what);
    pos_ += static_cast<size_t>(n);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
  }
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::F64); }

// Reads one scalar of a numeric/bool type into (i, u, f).
void read_scalar(Cursor& c, ValueType t, int64_t& i, uint64_t& u, double& f, std::string_view what) {
  switch (t) {
    case ValueType::U8: u = c.read<uint8_t>(what); i = static_cast<int64_t>(u); f = static_cast<double>(u); break;
    case ValueType::I8: i = c.read<int8_t>(what); u = static_cast<uint64_t>(i); f = static_cast<double>(i); break;
    case ValueType::U16: u = c.read<uint16_t>(what); i = static_cast<int64_t>(u); f = static_cast<double>(u); break;
    case ValueType::I16: i = c.read<int16_t>(what); u = static_cast<uint64_t>(i); f = static_cast<double>(i); break;
    case ValueType::U32: u = c.read<uint32_t>(what); i = static_cast<int64_t>(u); f = static_cast<double>(u); break;
    case ValueType::I32: i = c.read<int32_t>(what); u = static_cast<uint64_t>(i); f = static_cast<double>(i); break;
    case ValueType::U64: u = c.read<uint64_t>(what); i = static_cast<int64_t>(u); f = static_cast<double>(u); break;
    case ValueType::I64: i = c.read<int64_t>(what); u = static_cast<uint64_t>(i); f = static_cast<double>(i); break;
    case ValueType::F32: f = static_cast<double>(c.read<float>(what)); break;
    case ValueType::F64: f = c.read<double>(what); break;
    case ValueType::Bool: {
      const bool b = c.read<uint8_t>(what) != 0;  // any non-zero byte is true (as gguf-py reads it)
      i = b;
      u = b;
      f = b;
      break;
    }
    default: c.fail("{}: not a scalar type", what);
  }
}

Value read_value(Cursor& c, uint32_t raw_type, const std::string& key) {
  Value v;
  if (!valid_value_type(raw_type)) c.fail("key '{}': invalid value type {}", printable(key), raw_type);
  v.type = static_cast<ValueType>(raw_type);
  const std::string what = "key '" + printable(key) + "'";
  if (v.type == ValueType::String) {
    v.s = c.string(what);
    return v;
  }
  if (v.type != ValueType::Array) {
    read_scalar(c, v.type, v.i, v.u, v.f, what);
    return v;
  }
  const uint32_t et = c.read<uint32_t>(what);
  if (!valid_value_type(et)) c.fail("{}: invalid array element type {}", what, et);
  v.elem_type = static_cast<ValueType>(et);
  if (v.elem_type == ValueType::Array) c.fail("{}: nested arrays are not supported", what);
  const uint64_t n = c.read<uint64_t>(what);
  if (v.elem_type == ValueType::String) {
    // Each string takes at least its 8-byte length: bound the count before allocating.
    if (n > c.left() / 8) c.fail("{}: array of {} strings does not fit in the file", what, n);
    v.strings.reserve(static_cast<size_t>(n));
    for (uint64_t k = 0; k < n; ++k) v.strings.push_back(c.string(what));
    return v;
  }
  const size_t es = scalar_size(v.elem_type);
  if (n > c.left() / es) c.fail("{}: array of {} elements does not fit in the file", what, n);
  v.numbers.reserve(static_cast<size_t>(n));
  for (uint64_t k = 0; k < n; ++k) {
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    read_scalar(c, v.elem_type, i, u, f, what);
    v.numbers.push_back(f);
  }
  return v;
}

// a * b into out; false on overflow (non-negative operands).
bool mul_ok(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

const char* to_string(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "?";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

bool Value::is_number() const {
  return is_integer() || type == ValueType::F32 || type == ValueType::F64;
}

const TypeTraits* type_traits(uint32_t type) {
  // ggml's type_traits (ggml.c): block size and bytes per block. Removed ids (4, 5, 31-33,
  // 36-38) and unknown ones have none.
  static const TypeTraits kF32{"F32", 1, 4}, kF16{"F16", 1, 2}, kQ4_0{"Q4_0", 32, 18},
      kQ4_1{"Q4_1", 32, 20}, kQ5_0{"Q5_0", 32, 22}, kQ5_1{"Q5_1", 32, 24}, kQ8_0{"Q8_0", 32, 34},
      kQ8_1{"Q8_1", 32, 36}, kQ2_K{"Q2_K", 256, 84}, kQ3_K{"Q3_K", 256, 110},
      kQ4_K{"Q4_K", 256, 144}, kQ5_K{"Q5_K", 256, 176}, kQ6_K{"Q6_K", 256, 210},
      kQ8_K{"Q8_K", 256, 292}, kIQ2_XXS{"IQ2_XXS", 256, 66}, kIQ2_XS{"IQ2_XS", 256, 74},
      kIQ3_XXS{"IQ3_XXS", 256, 98}, kIQ1_S{"IQ1_S", 256, 50}, kIQ4_NL{"IQ4_NL", 32, 18},
      kIQ3_S{"IQ3_S", 256, 110}, kIQ2_S{"IQ2_S", 256, 82}, kIQ4_XS{"IQ4_XS", 256, 136},
      kI8{"I8", 1, 1}, kI16{"I16", 1, 2}, kI32{"I32", 1, 4}, kI64{"I64", 1, 8},
      kF64{"F64", 1, 8}, kIQ1_M{"IQ1_M", 256, 56}, kBF16{"BF16", 1, 2},
      kTQ1_0{"TQ1_0", 256, 54}, kTQ2_0{"TQ2_0", 256, 66}, kMXFP4{"MXFP4", 32, 17},
      kNVFP4{"NVFP4", 64, 36}, kQ1_0{"Q1_0", 128, 18};
  switch (type) {
    case 0: return &kF32;
    case 1: return &kF16;
    case 2: return &kQ4_0;
    case 3: return &kQ4_1;
    case 6: return &kQ5_0;
    case 7: return &kQ5_1;
    case 8: return &kQ8_0;
    case 9: return &kQ8_1;
    case 10: return &kQ2_K;
    case 11: return &kQ3_K;
    case 12: return &kQ4_K;
    case 13: return &kQ5_K;
    case 14: return &kQ6_K;
    case 15: return &kQ8_K;
    case 16: return &kIQ2_XXS;
    case 17: return &kIQ2_XS;
    case 18: return &kIQ3_XXS;
    case 19: return &kIQ1_S;
    case 20: return &kIQ4_NL;
    case 21: return &kIQ3_S;
    case 22: return &kIQ2_S;
    case 23: return &kIQ4_XS;
    case 24: return &kI8;
    case 25: return &kI16;
    case 26: return &kI32;
    case 27: return &kI64;
    case 28: return &kF64;
    case 29: return &kIQ1_M;
    case 30: return &kBF16;
    case 34: return &kTQ1_0;
    case 35: return &kTQ2_0;
    case 39: return &kMXFP4;
    case 40: return &kNVFP4;
    case 41: return &kQ1_0;
    default: return nullptr;
  }
}

std::string type_name(uint32_t type) {
  const TypeTraits* t = type_traits(type);
  return t ? std::string(t->name) : fmt::format("type {}", type);
}

const Value* Header::find(std::string_view key) const {
  auto it = kv_index.find(std::string(key));
  return it == kv_index.end() ? nullptr : &kv[it->second].second;
}

const TensorInfo* Header::tensor(std::string_view name) const {
  auto it = tensor_index.find(std::string(name));
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

bool has_gguf_magic(const uint8_t* data, size_t size) {
  return size >= 4 && std::memcmp(data, "GGUF", 4) == 0;
}

Header parse(const uint8_t* data, size_t size, const std::string& display_name) {
  Cursor c(data, size, display_name);
  if (!has_gguf_magic(data, size)) {
    const std::string_view head(reinterpret_cast<const char*>(data), std::min<size_t>(size, 4));
    c.fail("not a GGUF file (bad magic '{}')", printable(head));
  }
  const uint32_t magic = c.read<uint32_t>("magic");
  (void)magic;
  Header h;
  h.version = c.read<uint32_t>("version");
  if (h.version == 0) c.fail("invalid GGUF version 0");
  if ((h.version & 0xFFFFu) == 0)
    c.fail("big-endian (byte-swapped) GGUF files are not supported");
  if (h.version == 1) c.fail("GGUF version 1 is no longer supported (convert the model again)");
  if (h.version > 3) c.fail("unsupported GGUF version {} (need 2 or 3)", h.version);
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  if (n_tensors > static_cast<uint64_t>(INT64_MAX) || n_kv > static_cast<uint64_t>(INT64_MAX))
    c.fail("negative tensor or metadata count");
  // A key/value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes, a tensor
  // record at least 8 + 4 + 4 + 8: bound the counts by the bytes left before reserving.
  if (n_kv > c.left() / 14) c.fail("{} metadata entries do not fit in the file", n_kv);
  h.kv.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key(c.string("metadata key"));
    if (key.empty()) c.fail("metadata entry {} has an empty key", k);
    const uint32_t type = c.read<uint32_t>("metadata value type");
    Value v = read_value(c, type, key);
    if (!h.kv_index.emplace(key, h.kv.size()).second)
      c.fail("duplicate metadata key '{}'", printable(key));
    h.kv.emplace_back(key, std::move(v));
  }

  if (n_tensors > c.left() / 24) c.fail("{} tensors do not fit in the file", n_tensors);
  h.tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo t;
    t.name = std::string(c.string("tensor name"));
    const std::string pname = printable(t.name);
    if (t.name.size() > kMaxNameBytes)
      c.fail("tensor name '{}' is too long ({} bytes, at most {})", pname, t.name.size(), kMaxNameBytes);
    const uint32_t n_dims = c.read<uint32_t>("tensor dimensions");
    if (n_dims > static_cast<uint32_t>(kMaxDims))
      c.fail("tensor '{}' has {} dimensions (at most {})", pname, n_dims, kMaxDims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t ne = c.read<int64_t>("tensor shape");
      if (ne < 0) c.fail("tensor '{}' has a negative dimension {}", pname, ne);
      if (!mul_ok(elements, static_cast<uint64_t>(ne), elements) ||
          elements > static_cast<uint64_t>(INT64_MAX))
        c.fail("tensor '{}': element count overflows", pname);
      t.ne.push_back(ne);
    }
    t.elements = static_cast<int64_t>(elements);
    t.type = c.read<uint32_t>("tensor type");
    const TypeTraits* tt = type_traits(t.type);
    if (!tt) c.fail("tensor '{}' has an unknown or removed ggml type {}", pname, t.type);
    const int64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    if (ne0 % tt->block_size != 0)
      c.fail("tensor '{}': row of {} elements is not a multiple of the {} block size {}", pname, ne0,
             tt->name, tt->block_size);
    uint64_t bytes = 0;
    if (!mul_ok(static_cast<uint64_t>(ne0 / tt->block_size), static_cast<uint64_t>(tt->type_size), bytes) ||
        !mul_ok(bytes, ne0 == 0 ? 0 : elements / static_cast<uint64_t>(ne0), bytes))
      c.fail("tensor '{}': byte size overflows", pname);
    t.nbytes = bytes;
    t.offset = c.read<uint64_t>("tensor offset");
    if (!h.tensor_index.emplace(t.name, h.tensors.size()).second)
      c.fail("duplicate tensor name '{}'", pname);
    h.tensors.push_back(std::move(t));
  }

  if (const Value* a = h.find("general.alignment")) {
    if (a->type != ValueType::U32) c.fail("general.alignment must be a u32, not {}", to_string(a->type));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      c.fail("general.alignment {} is not a non-zero power of two", a->u);
    h.alignment = a->u;
  }
  const uint64_t pos = c.pos();
  h.data_start = (pos + h.alignment - 1) / h.alignment * h.alignment;
  for (TensorInfo& t : h.tensors) {
    const std::string pname = printable(t.name);
    if (t.offset % h.alignment != 0)
      c.fail("tensor '{}': data offset {} is not a multiple of the alignment {}", pname, t.offset,
             h.alignment);
    if (h.data_start > size || t.offset > size - h.data_start ||
        t.nbytes > size - h.data_start - t.offset)
      c.fail("tensor '{}': data ({} bytes at offset {}) extends past the end of the file ({} bytes)",
             pname, t.nbytes, t.offset, size);
    t.data = data + h.data_start + t.offset;
  }
  return h;
}

std::shared_ptr<File> File::open(const std::string& path) {
  std::shared_ptr<File> f(new File());
  try {
    f->file_ = MappedFile::open(path);
  } catch (const Error& e) {
    throw_error("gguf", "{}: cannot open: {}", path, e.what());
  }
  f->header_ = parse(f->file_->data(), f->file_->size(), path);
  return f;
}

}  // namespace ollmlx::gguf
