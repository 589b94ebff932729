#include "yaml_reader.hpp"

#include <algorithm>

namespace tollgate::config::detail {
namespace {

constexpr std::int64_t kMaxMillis = 30LL * 24 * 3600 * 1000;

// Entries of a mapping with string keys; reports a non-mapping, non-string and duplicate keys.
std::vector<Entry> map_entries(const FileContext& ctx, const YAML::Node& node, std::string_view path) {
  std::vector<Entry> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) {
    ctx.error(node.Mark(), std::string(path.empty() ? "top level" : path) + ": expected a mapping, got " +
                               describe(node));
    return out;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      ctx.error(key.Mark(), std::string(path.empty() ? "top level" : path) + ": keys must be strings, got " +
                                describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const bool duplicate = std::any_of(out.begin(), out.end(), [&](const Entry& e) { return e.key == name; });
    if (duplicate) {
      ctx.error(key.Mark(), "duplicate key " + in_quotes(child_path(path, name)));
      continue;
    }
    out.push_back(Entry{name, key, it->second});
  }
  return out;
}

}  // namespace

YAML::Mark value_mark(const Entry& entry) {
  return entry.value.IsNull() ? entry.key_node.Mark() : entry.value.Mark();
}

std::string child_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string index_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return in_quotes(node.Scalar());
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::filesystem::path normalize_path(const std::filesystem::path& path) {
  std::filesystem::path out = path.lexically_normal();
  if (!out.has_filename() && out != out.root_path()) out = out.parent_path();
  return out;
}

std::filesystem::path resolve_path(const std::filesystem::path& dir, std::string_view path) {
  const std::filesystem::path p{std::string(path)};
  return normalize_path(p.is_absolute() ? p : dir / p);
}

std::vector<Entry> named_entries(const FileContext& ctx, const YAML::Node& node, std::string_view path) {
  std::vector<Entry> out = map_entries(ctx, node, path);
  std::erase_if(out, [&](const Entry& e) {
    if (!e.key.empty()) return false;
    ctx.error(e.key_node.Mark(), std::string(path) + ": names must not be empty");
    return true;
  });
  return out;
}

std::vector<YAML::Node> list_items(const FileContext& ctx, const YAML::Node& node, std::string_view path) {
  std::vector<YAML::Node> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) {
    ctx.error(node.Mark(), std::string(path) + ": expected a list, got " + describe(node));
    return out;
  }
  for (const YAML::Node& item : node) out.push_back(item);
  return out;
}

std::optional<std::string> read_string(const FileContext& ctx, const YAML::Node& node, std::string_view path,
                                       const YAML::Mark& at) {
  if (!node.IsScalar()) {
    ctx.error(at, std::string(path) + ": expected a string, got " + describe(node));
    return std::nullopt;
  }
  if (node.Scalar().empty()) {
    ctx.error(at, std::string(path) + ": must not be empty");
    return std::nullopt;
  }
  return node.Scalar();
}

Fields::Fields(const FileContext& ctx, const Entry& entry, std::string path,
               std::initializer_list<std::string_view> known)
    : Fields(ctx, entry.value, std::move(path), known) {
  mark_ = value_mark(entry);
}

Fields::Fields(const FileContext& ctx, const YAML::Node& node, std::string path,
               std::initializer_list<std::string_view> known)
    : ctx_(ctx), path_(std::move(path)), mark_(node.Mark()), entries_(map_entries(ctx, node, path_)) {
  std::erase_if(entries_, [&](const Entry& e) {
    if (std::find(known.begin(), known.end(), e.key) != known.end()) return false;
    ctx_.error(e.key_node.Mark(), "unknown key " + in_quotes(child_path(path_, e.key)));
    return true;
  });
}

std::optional<Entry> Fields::entry(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return e;
  }
  return std::nullopt;
}

std::optional<YAML::Node> Fields::find(std::string_view key) const {
  auto e = entry(key);
  if (!e) return std::nullopt;
  return e->value;
}

std::optional<YAML::Node> Fields::require(std::string_view key) const {
  auto node = find(key);
  if (!node) ctx_.error(mark_, (path_.empty() ? std::string("top level") : path_) + ": missing required key " +
                                   in_quotes(key));
  return node;
}

std::optional<std::string> Fields::string(std::string_view key) const {
  auto node = find(key);
  if (!node) return std::nullopt;
  return read_string(ctx_, *node, path(key), mark(key));
}

std::optional<std::int64_t> Fields::positive_int(std::string_view key) const {
  auto node = find(key);
  if (!node) return std::nullopt;
  std::optional<std::int64_t> v;
  if (node->IsScalar()) v = parse_positive_int(node->Scalar());
  if (!v) ctx_.error(mark(key), path(key) + ": expected a positive integer, got " + describe(*node));
  return v;
}

std::optional<std::chrono::milliseconds> Fields::millis(std::string_view key) const {
  auto node = find(key);
  if (!node) return std::nullopt;
  std::optional<std::int64_t> v;
  if (node->IsScalar()) v = parse_positive_int(node->Scalar());
  if (!v) {
    ctx_.error(mark(key), path(key) + ": expected a positive integer number of milliseconds, got " +
                                 describe(*node));
    return std::nullopt;
  }
  // Bounded so that `now + timeout` can never overflow anywhere downstream.
  if (*v > kMaxMillis) {
    ctx_.error(mark(key), path(key) + ": at most " + std::to_string(kMaxMillis) + " (30 days), got " + describe(*node));
    return std::nullopt;
  }
  return std::chrono::milliseconds{*v};
}

std::optional<NanoUsd> Fields::usd(std::string_view key) const {
  auto node = find(key);
  if (!node) return std::nullopt;
  // The scalar's source text, never a double: "2.50" is exactly 2'500'000'000 nano-USD.
  std::optional<NanoUsd> v;
  if (node->IsScalar()) v = parse_usd_amount(node->Scalar());
  if (!v) {
    ctx_.error(mark(key), path(key) + ": expected a non-negative USD amount with at most 9 decimals, got " +
                                 describe(*node));
  }
  return v;
}

std::optional<double> Fields::fraction(std::string_view key) const {
  auto node = find(key);
  if (!node) return std::nullopt;
  std::optional<double> v;
  if (node->IsScalar()) v = parse_fraction(node->Scalar());
  if (!v) ctx_.error(mark(key), path(key) + ": expected a fraction in (0, 1], got " + describe(*node));
  return v;
}

std::optional<HostPort> Fields::host_port(std::string_view key) const {
  auto node = find(key);
  if (node && node->IsSequence()) {
    // `listen: [::1]:80` is a YAML flow list; say how to write what was meant.
    ctx_.error(mark(key), path(key) + ": expected host:port, got a list (quote IPv6 addresses: \"[::1]:8080\")");
    return std::nullopt;
  }
  auto text = string(key);
  if (!text) return std::nullopt;
  auto parsed = parse_host_port(*text);
  if (!parsed.value) ctx_.error(mark(key), path(key) + ": " + parsed.error);
  return parsed.value;
}

std::optional<Url> Fields::url(std::string_view key, std::initializer_list<std::string_view> schemes) const {
  auto text = string(key);
  if (!text) return std::nullopt;
  auto parsed = parse_url(*text, schemes);
  if (!parsed.value) ctx_.error(mark(key), path(key) + ": " + parsed.error);
  return parsed.value;
}

std::optional<std::string> Fields::file_path(std::string_view key) const {
  auto text = string(key);
  if (!text) return std::nullopt;
  return resolve_path(ctx_.dir, *text).string();
}

}  // namespace tollgate::config::detail
