// Model dispatch ("model" -> BPE or WordLevel), the WordLevel model and the per-encode word
// cache shared by the models.
#include "tokenizer/model.h"

#include "util/error.h"

namespace ollmlx::tok {
namespace {

using jsonu::Json;

// WordLevel: each pre-token is looked up whole; unknown ones map to unk_token.
class WordLevel : public Model {
 public:
  WordLevel(Vocab vocab, std::string unk) : vocab_(std::move(vocab)), unk_(std::move(unk)) {}
  void tokenize(std::string_view word, std::vector<int32_t>& out, WordCache*) const override {
    const int32_t* id = vocab_.find(word);
    if (id == nullptr) id = vocab_.find(unk_);
    if (id == nullptr) {
      throw_error("tokenizer", "WordLevel unk_token '{}' is not in the vocabulary", unk_);
    }
    out.push_back(*id);
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    const int32_t* id = vocab_.find(token);
    if (id == nullptr) return std::nullopt;
    return *id;
  }
  size_t size() const override { return vocab_.size(); }
  const Vocab& vocab() const override { return vocab_; }

 private:
  Vocab vocab_;
  std::string unk_;
};

}  // namespace

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  const auto* hit = index_.find(word);
  if (hit == nullptr) return false;
  out.insert(out.end(), ids_.begin() + hit->first, ids_.begin() + hit->first + hit->second);
  return true;
}

void WordCache::store(std::string_view word, const int32_t* ids, size_t n) {
  const auto offset = static_cast<uint32_t>(ids_.size());
  ids_.insert(ids_.end(), ids, ids + n);
  index_.put(word, std::make_pair(offset, static_cast<uint32_t>(n)));
}

std::unique_ptr<Model> parse_model(const Json& v, std::string_view where_view) {
  const std::string where(where_view);
  jsonu::require_object(v, where);
  std::string type;
  if (jsonu::field(v, "type") != nullptr) {
    type = jsonu::get_string(v, "type", where);
  } else if (jsonu::field(v, "merges") != nullptr) {
    type = "BPE";  // untagged BPE, as HF accepts
  }
  const std::string at = where + " (" + type + ")";
  if (type == "BPE") return parse_bpe(v, at);
  if (type == "WordLevel") {
    return std::make_unique<WordLevel>(parse_vocab(v, at), jsonu::get_string(v, "unk_token", at));
  }
  if (type == "Unigram" || type == "WordPiece") {
    jsonu::fail(at, "this model type is not supported yet (only BPE and WordLevel)");
  }
  jsonu::fail(at, "unknown model type");
}

}  // namespace ollmlx::tok
