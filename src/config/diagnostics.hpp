#pragma once
// Config stage: collects every error and warning found while loading, then hands them out
// in file order (files in the order they were read, then line, then column).
#include <string>
#include <vector>

#include <yaml-cpp/mark.h>

#include "tollgate/config/load.hpp"

namespace tollgate::config::detail {

class Diagnostics {
 public:
  // Files registered earlier sort first; an unregistered file is registered on first use.
  void add_file(const std::string& file);

  // `at` is yaml-cpp's 0-based mark; a null mark (no position) is reported at 1:1.
  void error(const std::string& file, const YAML::Mark& at, std::string message);
  void warning(const std::string& file, const YAML::Mark& at, std::string message);

  bool has_errors() const { return !errors_.empty(); }
  std::vector<Diagnostic> sorted_errors() const { return sorted(errors_); }
  std::vector<Diagnostic> sorted_warnings() const { return sorted(warnings_); }

 private:
  Diagnostic make(const std::string& file, const YAML::Mark& at, std::string message);
  std::vector<Diagnostic> sorted(std::vector<Diagnostic> list) const;
  std::size_t file_rank(const std::string& file) const;

  std::vector<std::string> files_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

}  // namespace tollgate::config::detail
