// MLX-compatible safetensors writer (safetensors_writer.h).
#include "store/import/safetensors_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "util/error.h"

namespace ollmlx::gguf {

std::vector<size_t> mlx_data_order(const std::vector<std::string>& names) {
  // mx.save_safetensors(path, dict) converts the dict (sorted keys, as the Python tooling passes
  // it) into a std::unordered_map by inserting in that order, copies it, and writes the data in
  // the copy's iteration order. Do the same.
  std::vector<size_t> sorted(names.size());
  for (size_t i = 0; i < sorted.size(); ++i) sorted[i] = i;
  std::sort(sorted.begin(), sorted.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::unordered_map<std::string, size_t> map;
  for (size_t i : sorted) map.emplace(names[i], i);
  const std::unordered_map<std::string, size_t> copy = map;
  std::vector<size_t> order;
  order.reserve(names.size());
  for (const auto& [name, index] : copy) order.push_back(index);
  return order;
}

std::string safetensors_header(const std::vector<PlannedTensor>& tensors,
                               const std::vector<size_t>& order,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();  // std::map: keys sorted, as MLX writes
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (size_t i : order) {
    const PlannedTensor& t = tensors[i];
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  return header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw_error("gguf", "{}: cannot write: {}", path, std::strerror(w < 0 ? errno : EIO));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<PlannedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const std::function<void(size_t, std::vector<uint8_t>&)>& produce) {
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const PlannedTensor& t : tensors) names.push_back(t.name);
  const std::vector<size_t> order = mlx_data_order(names);
  const std::string header = safetensors_header(tensors, order, metadata);
  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_error("gguf", "{}: cannot create: {}", p, std::strerror(errno));
  try {
    const uint64_t len = header.size();  // little-endian host
    write_all(fd, &len, 8, p);
    write_all(fd, header.data(), header.size(), p);
    std::vector<uint8_t> buf;
    for (size_t i : order) {
      buf.clear();
      produce(i, buf);
      if (buf.size() != tensors[i].nbytes)
        throw_error("gguf", "{}: tensor '{}' produced {} bytes, expected {}", p, tensors[i].name,
                    buf.size(), tensors[i].nbytes);
      write_all(fd, buf.data(), buf.size(), p);
    }
    if (::fsync(fd) != 0) throw_error("gguf", "{}: cannot sync: {}", p, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

std::string MlxShards::index_json(int64_t total_parameters) const {
  using OJson = nlohmann::ordered_json;
  OJson wm = OJson::object();
  for (const auto& [name, file] : weight_map) wm[name] = file;
  const OJson index{{"metadata", OJson{{"total_size", total_size}, {"total_parameters", total_parameters}}},
                    {"weight_map", wm}};
  return index.dump(4);
}

MlxShards write_mlx_shards(const std::filesystem::path& dir, const std::vector<PlannedTensor>& tensors,
                           uint64_t max_shard_bytes, const std::function<void(const std::string&)>& log,
                           const std::function<void(size_t, std::vector<uint8_t>&)>& produce) {
  std::vector<std::vector<size_t>> shards;
  uint64_t shard_size = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (shards.empty() || shard_size + tensors[i].nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_size = 0;
    }
    shards.back().push_back(i);
    shard_size += tensors[i].nbytes;
  }
  MlxShards out;
  out.files = static_cast<int>(shards.size());
  for (const PlannedTensor& t : tensors) out.total_size += t.nbytes;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string fname = shards.size() > 1
                                  ? fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size())
                                  : "model.safetensors";
    std::vector<PlannedTensor> planned;
    for (size_t i : shards[s]) {
      planned.push_back(tensors[i]);
      out.weight_map[tensors[i].name] = fname;
    }
    if (log) log(fmt::format("writing {} ({} tensors)", fname, planned.size()));
    write_safetensors(dir / fname, planned, {{"format", "mlx"}},
                      [&](size_t j, std::vector<uint8_t>& buf) { produce(shards[s][j], buf); });
  }
  return out;
}

}  // namespace ollmlx::gguf
