#pragma once
// Config stage: where the loader reads files from — the disk for load(), a map of strings for
// load_from_strings() (tests, the fuzzer). Reading config files is the loader's only I/O.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "scalars.hpp"
#include "tollgate/config/load.hpp"

namespace tollgate::config::detail {

class FileSource {
 public:
  enum class Kind { missing, file, directory };

  virtual ~FileSource() = default;
  // `path` is absolute and normalised in every call.
  virtual Kind kind(const std::filesystem::path& path) const = 0;
  // Files named *.yaml or *.yml directly inside `dir` (not hidden ones), sorted by name.
  virtual std::vector<std::filesystem::path> yaml_files_in(const std::filesystem::path& dir) const = 0;
  // The whole file, or why it cannot be read.
  virtual Parsed<std::string> read(const std::filesystem::path& path) const = 0;
};

std::unique_ptr<FileSource> disk_files();
// Relative keys of `files` are taken relative to `base_dir` (absolute).
std::unique_ptr<FileSource> memory_files(const FileMap& files, const std::filesystem::path& base_dir);

// True for "x.yaml" / "x.yml" that do not start with a dot.
bool is_yaml_file_name(const std::filesystem::path& name);

}  // namespace tollgate::config::detail
