#include "file_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "yaml_reader.hpp"

namespace tollgate::config::detail {
namespace {

namespace fs = std::filesystem;

// Config files are small; this guards against a path naming something huge by mistake.
constexpr std::uintmax_t kMaxFileBytes = 16 * 1024 * 1024;

class DiskFiles final : public FileSource {
 public:
  Kind kind(const fs::path& path) const override {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) return Kind::missing;
    return fs::is_directory(status) ? Kind::directory : Kind::file;
  }

  std::vector<fs::path> yaml_files_in(const fs::path& dir) const override {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      // Follows symlinks, so Kubernetes ConfigMap mounts (links into ..data/) work.
      if (it->is_regular_file(type_ec) && is_yaml_file_name(it->path().filename())) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Parsed<std::string> read(const fs::path& path) const override {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) return Parsed<std::string>::fail("No such file or directory");
    if (!fs::is_regular_file(status)) return Parsed<std::string>::fail("not a regular file");
    const auto size = fs::file_size(path, ec);
    if (!ec && size > kMaxFileBytes) return Parsed<std::string>::fail("file is larger than 16 MiB");
    std::ifstream in(path, std::ios::binary);
    if (!in) return Parsed<std::string>::fail(std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Parsed<std::string>::fail("read error");
    return Parsed<std::string>::ok(std::move(text).str());
  }
};

class MemoryFiles final : public FileSource {
 public:
  MemoryFiles(const FileMap& files, const fs::path& base_dir) {
    for (const auto& [name, text] : files) files_[resolve_path(base_dir, name).string()] = text;
  }

  Kind kind(const fs::path& path) const override {
    if (files_.count(path.string()) != 0) return Kind::file;
    const std::string prefix = dir_prefix(path);
    auto it = files_.lower_bound(prefix);
    if (it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0) return Kind::directory;
    return Kind::missing;
  }

  std::vector<fs::path> yaml_files_in(const fs::path& dir) const override {
    std::vector<fs::path> out;
    for (const auto& [name, text] : files_) {
      const fs::path p{name};
      if (p.parent_path() == dir && is_yaml_file_name(p.filename())) out.push_back(p);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Parsed<std::string> read(const fs::path& path) const override {
    auto it = files_.find(path.string());
    if (it != files_.end()) return Parsed<std::string>::ok(it->second);
    if (kind(path) == Kind::directory) return Parsed<std::string>::fail("not a regular file");
    return Parsed<std::string>::fail("No such file or directory");
  }

 private:
  static std::string dir_prefix(const fs::path& dir) {
    std::string s = dir.string();
    if (s.empty() || s.back() != '/') s += '/';
    return s;
  }

  std::map<std::string, std::string> files_;
};

}  // namespace

bool is_yaml_file_name(const std::filesystem::path& name) {
  const std::string s = name.string();
  if (s.empty() || s.front() == '.') return false;
  const std::string ext = name.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

std::unique_ptr<FileSource> disk_files() { return std::make_unique<DiskFiles>(); }

std::unique_ptr<FileSource> memory_files(const FileMap& files, const std::filesystem::path& base_dir) {
  return std::make_unique<MemoryFiles>(files, base_dir);
}

}  // namespace tollgate::config::detail
