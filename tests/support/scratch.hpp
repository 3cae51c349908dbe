#pragma once
// A fresh folder under /tmp for one end-to-end test, removed when the test ends: tests that check
// "nothing is left behind" list what is in it.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace ketasim::testing {

struct ScratchFolder {
  std::filesystem::path path;
  ScratchFolder(const std::string& prefix, const std::string& tag)
      : path(std::filesystem::temp_directory_path() / (prefix + "_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;

  // File names directly inside, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  // Full paths of everything below, at any depth (a run may create folders).
  std::vector<std::string> all_paths() const {
    std::vector<std::string> paths;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) paths.push_back(e.path().string());
    return paths;
  }
};

}  // namespace ketasim::testing
