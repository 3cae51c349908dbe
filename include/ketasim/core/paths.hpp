#pragma once
// Paths written inside input files are relative to that file's folder.
#include <string>

namespace ketasim {

std::string resolve_relative(const std::string& base_file, const std::string& path);
bool regular_file(const std::string& path);

}  // namespace ketasim
