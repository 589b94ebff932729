#include "diagnostics.hpp"

#include <algorithm>
#include <tuple>

namespace tollgate::config::detail {

void Diagnostics::add_file(const std::string& file) {
  if (std::find(files_.begin(), files_.end(), file) == files_.end()) files_.push_back(file);
}

void Diagnostics::error(const std::string& file, const YAML::Mark& at, std::string message) {
  errors_.push_back(make(file, at, std::move(message)));
}

void Diagnostics::warning(const std::string& file, const YAML::Mark& at, std::string message) {
  warnings_.push_back(make(file, at, std::move(message)));
}

Diagnostic Diagnostics::make(const std::string& file, const YAML::Mark& at, std::string message) {
  add_file(file);
  return Diagnostic{file, std::max(at.line, 0) + 1, std::max(at.column, 0) + 1, std::move(message)};
}

std::size_t Diagnostics::file_rank(const std::string& file) const {
  return static_cast<std::size_t>(std::find(files_.begin(), files_.end(), file) - files_.begin());
}

std::vector<Diagnostic> Diagnostics::sorted(std::vector<Diagnostic> list) const {
  // Stable, so two messages at the same position keep the order they were found in.
  std::stable_sort(list.begin(), list.end(), [this](const Diagnostic& a, const Diagnostic& b) {
    return std::tuple(file_rank(a.file), a.line, a.column) < std::tuple(file_rank(b.file), b.line, b.column);
  });
  return list;
}

}  // namespace tollgate::config::detail
