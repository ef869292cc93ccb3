// The dynamic value type of the template engine: Python's None/bool/int/float/str/list/tuple/
// dict plus jinja2's Undefined and opaque objects (macros, namespaces, loop contexts...).
// Strings, lists and dicts are immutable and shared (the sandbox forbids mutating them), so
// copying a Value is cheap. Containers record their nesting depth, which is capped so that
// every recursive walk (repr, JSON, comparison, destruction) has bounded stack use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ollmlx::tmpl {

class Value;
class Object;
class Interp;

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, Str, List, Dict, Object };
// A list-like value's Python type: list, tuple, dict views and range print differently.
enum class ListKind : uint8_t { List, Tuple, DictItems, DictKeys, DictValues, Range };

inline constexpr int kMaxValueDepth = 400;
// Most items one list or dict may hold (memory bound for hostile templates).
inline constexpr size_t kMaxItems = size_t{1} << 20;

struct UndefinedInfo {
  std::string message;    // the UndefinedError message using it would raise
  bool security = false;  // unsafe attribute: raises SecurityError instead
};

struct StrData {
  std::string s;
  bool markup = false;  // markupsafe.Markup (from |safe or |escape)
};

struct ListData {
  std::vector<Value> items;
  ListKind kind = ListKind::List;
  int depth = 1;
  std::vector<std::string> fields;  // attribute names of a named tuple (groupby)
  int64_t range[3] = {0, 0, 1};     // start, stop, step of a range
};

class DictData {
 public:
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts, or overwrites keeping the key's first position (Python dict semantics).
  void set(Value key, Value value);
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  size_t size() const;
  int depth = 1;

 private:
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> str_index_;
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

class Value {
 public:
  Value() : kind_(Kind::Undefined), i_(0) {}
  static Value undefined(std::string message, bool security = false);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s, bool markup = false);
  static Value list(std::vector<Value> items, ListKind kind = ListKind::List);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), ListKind::Tuple); }
  static Value list(std::shared_ptr<const ListData> data);
  static Value dict(std::shared_ptr<const DictData> data);
  static Value object(std::shared_ptr<Object> obj);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_str() const { return kind_ == Kind::Str; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_object() const { return kind_ == Kind::Object; }
  bool is_number() const {
    return kind_ == Kind::Bool || kind_ == Kind::Int || kind_ == Kind::Float;
  }
  bool is_integral() const { return kind_ == Kind::Bool || kind_ == Kind::Int; }
  // A plain list or tuple (not a dict view or range).
  bool is_sequence_kind(ListKind k) const { return is_list() && list_data().kind == k; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return f_; }
  // Bool, Int or Float as a double.
  double to_double() const;
  const std::string& str() const { return static_cast<const StrData*>(data_.get())->s; }
  bool markup() const { return static_cast<const StrData*>(data_.get())->markup; }
  const ListData& list_data() const { return *static_cast<const ListData*>(data_.get()); }
  const std::vector<Value>& items() const { return list_data().items; }
  const DictData& dict() const { return *static_cast<const DictData*>(data_.get()); }
  Object* object() const { return obj_.get(); }
  const std::shared_ptr<Object>& object_ptr() const { return obj_; }
  // Null for a plain undefined (no recorded reason).
  const UndefinedInfo* undefined_info() const {
    return kind_ == Kind::Undefined ? static_cast<const UndefinedInfo*>(data_.get()) : nullptr;
  }
  // Identity of the shared payload (Python's `is` for containers and objects).
  const void* identity() const { return obj_ ? obj_.get() : data_.get(); }
  int depth() const;

 private:
  Kind kind_;
  union {
    bool b_;
    int64_t i_;
    double f_;
  };
  std::shared_ptr<const void> data_;
  std::shared_ptr<Object> obj_;
};

inline size_t DictData::size() const { return items_.size(); }

// Opaque objects: macros, namespaces, loop contexts, callables, iterators.
class Object {
 public:
  virtual ~Object() = default;
  // Python type name, used in messages ("'Namespace' object ...").
  virtual std::string type_name() const = 0;
  virtual std::string repr() const;
  virtual bool truthy() const { return true; }
  virtual bool callable() const { return false; }
  virtual Value call(Interp& in, CallArgs& args);
  // An attribute, or nullopt when there is none.
  virtual std::optional<Value> getattr(Interp& in, const std::string& name);
  // Iteration (nullopt when not iterable). Iterators are consumed by iterating them.
  virtual std::optional<std::vector<Value>> iterate(Interp& in);
  virtual std::optional<int64_t> length() const { return std::nullopt; }
  // Drops held references so reference cycles (a namespace holding itself, a macro stored in
  // its own scope) are freed when the render ends.
  virtual void release() {}
};

// Destroys values without unbounded recursion: objects holding values (namespaces, iterators,
// loop contexts) can form arbitrarily long chains, so their destructors hand their contents
// here and the outermost call frees them iteratively.
void release_values(std::vector<Value>&& values);

// Bounds recursion of repr() through objects (namespaces can nest and refer to themselves).
class ReprGuard {
 public:
  explicit ReprGuard(const void* obj);
  ~ReprGuard();
  ReprGuard(const ReprGuard&) = delete;
  ReprGuard& operator=(const ReprGuard&) = delete;
  // True when `obj` is already being printed further up (Python prints "{...}" then).
  bool recursive() const { return recursive_; }

 private:
  bool recursive_ = false;
};

// Python semantics over values.
bool truthy(const Value& v);
std::string type_name(const Value& v);
// "'dict object'" style description used in undefined messages (jinja2's object_type_repr).
std::string object_type_repr(const Value& v);
std::string to_str(const Value& v);  // str(v)
std::string repr(const Value& v);    // repr(v)
bool equal(const Value& a, const Value& b);
// -1, 0, 1, or kUnordered (a NaN is involved); TypeError naming `op` when the values are not
// orderable, UndefinedError when one is undefined.
inline constexpr int kUnordered = 2;
int compare(const Value& a, const Value& b, std::string_view op = "<");
// Python hash() equivalence key for sets (unique); TypeError for unhashable values.
std::string hash_key(const Value& v);

// Stable merge sort that stays in bounds even for inconsistent orderings (NaN); `less` may
// throw (TypeError for unorderable values) like Python's sort.
void py_sort(std::vector<Value>& items,
             const std::function<bool(const Value&, const Value&)>& less);

// len(v); nullopt when v has no length.
std::optional<int64_t> py_len(const Value& v);

// Any Undefined operand of an operation that fails on undefined values raises here.
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace ollmlx::tmpl
