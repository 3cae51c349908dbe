#include "ketasim/core/paths.hpp"

#include <sys/stat.h>

namespace ketasim {

std::string resolve_relative(const std::string& base_file, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  const auto slash = base_file.find_last_of('/');
  return slash == std::string::npos ? path : base_file.substr(0, slash + 1) + path;
}

bool regular_file(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

}  // namespace ketasim
