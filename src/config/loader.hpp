#pragma once
// Config stage: the load sequence shared by load() and load_from_strings(): gateway file,
// then every tenant file it names, then the cross-file checks.
#include <filesystem>

#include "file_source.hpp"
#include "tollgate/config/load.hpp"

namespace tollgate::config::detail {

// `gateway_file` is absolute and normalised. Never throws.
LoadResult load_with(const FileSource& files, const std::filesystem::path& gateway_file, const EnvLookup& env);

}  // namespace tollgate::config::detail
