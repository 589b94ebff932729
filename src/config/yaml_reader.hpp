#pragma once
// Config stage: strict, typed reading of YAML nodes. Every problem is reported (with the
// offending node's position and the full key path) and reading carries on with the siblings,
// so one pass finds every error. Readers return nullopt after reporting.
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "diagnostics.hpp"
#include "scalars.hpp"

namespace tollgate::config::detail {

// One YAML file being read: where its diagnostics go and what its relative paths are
// relative to.
struct FileContext {
  Diagnostics& diags;
  std::string file;            // absolute path, as shown in diagnostics
  std::filesystem::path dir;   // the file's directory

  void error(const YAML::Mark& at, std::string message) const { diags.error(file, at, std::move(message)); }
  void warning(const YAML::Mark& at, std::string message) const { diags.warning(file, at, std::move(message)); }
};

// Key paths as shown in messages: "server" + "max_body_bytes", "tenants.acme.keys" + [0].
std::string child_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);

// What a node holds, for "expected X, got Y": the quoted scalar, "a mapping", "a list", "null".
std::string describe(const YAML::Node& node);

// `path` made absolute against `dir`, lexically normalised, without a trailing slash.
std::filesystem::path resolve_path(const std::filesystem::path& dir, std::string_view path);
std::filesystem::path normalize_path(const std::filesystem::path& path);

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// Where to report a problem with an entry's value. An empty value (`key:` alone) has no
// position of its own (yaml-cpp marks the next token), so its key's position is used.
YAML::Mark value_mark(const Entry& entry);

// The entries of a mapping whose keys are names (providers, models, plans, tenants...), in
// document order. Non-string, empty and duplicate keys are reported and skipped. A null node
// is an empty mapping; anything else that is not a mapping is reported and yields nothing.
std::vector<Entry> named_entries(const FileContext& ctx, const YAML::Node& node, std::string_view path);

// The items of a list; a non-list is reported and yields nothing (null = empty list).
std::vector<YAML::Node> list_items(const FileContext& ctx, const YAML::Node& node, std::string_view path);

// Scalar readers: `path` is the full key path of `node`, used in the message; `at` is where
// a problem is reported.
std::optional<std::string> read_string(const FileContext& ctx, const YAML::Node& node, std::string_view path,
                                       const YAML::Mark& at);
inline std::optional<std::string> read_string(const FileContext& ctx, const YAML::Node& node, std::string_view path) {
  return read_string(ctx, node, path, node.Mark());
}

// A mapping with a fixed set of keys. Construction reports unknown and duplicate keys; the
// typed getters read one key each, returning nullopt when it is absent or invalid (reported).
class Fields {
 public:
  Fields(const FileContext& ctx, const YAML::Node& node, std::string path,
         std::initializer_list<std::string_view> known);
  // The mapping that is `entry`'s value (reported at the key when the value is empty).
  Fields(const FileContext& ctx, const Entry& entry, std::string path, std::initializer_list<std::string_view> known);

  const FileContext& ctx() const { return ctx_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return child_path(path_, key); }
  const YAML::Mark& mark() const { return mark_; }

  // The entry / value node, or nullopt when the key is absent.
  std::optional<Entry> entry(std::string_view key) const;
  std::optional<YAML::Node> find(std::string_view key) const;
  // Where to report a problem with `key`'s value (which must be present).
  YAML::Mark mark(std::string_view key) const { return value_mark(*entry(key)); }
  // Like find, but an absent key is reported as missing.
  std::optional<YAML::Node> require(std::string_view key) const;

  std::optional<std::string> string(std::string_view key) const;
  std::optional<std::int64_t> positive_int(std::string_view key) const;
  std::optional<std::chrono::milliseconds> millis(std::string_view key) const;
  std::optional<NanoUsd> usd(std::string_view key) const;
  std::optional<double> fraction(std::string_view key) const;
  std::optional<HostPort> host_port(std::string_view key) const;
  std::optional<Url> url(std::string_view key, std::initializer_list<std::string_view> schemes) const;
  // A path relative to the file's directory, returned absolute.
  std::optional<std::string> file_path(std::string_view key) const;

  // One of `values` by name, e.g. {{"local", StoreKind::local}, {"redis", StoreKind::redis}}.
  template <class E>
  std::optional<E> choice(std::string_view key, std::initializer_list<std::pair<std::string_view, E>> values) const {
    auto text = string(key);
    if (!text) return std::nullopt;
    std::string names;
    for (const auto& [name, value] : values) {
      if (name == *text) return value;
      names += names.empty() ? "" : ", ";
      names += name;
    }
    ctx_.error(mark(key), path(key) + ": expected one of " + names + ", got " + in_quotes(*text));
    return std::nullopt;
  }

 private:
  const FileContext& ctx_;
  std::string path_;
  YAML::Mark mark_;
  std::vector<Entry> entries_;
};

}  // namespace tollgate::config::detail
