#pragma once
// Internal to the trial engine: the time axes of a run (the stored output times and each arm's
// simulation grid) and output names as they appear in the results file.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace ketasim::trial {

// Concentrations are sampled every 5 minutes for 12 h after each session: fine enough to catch a
// 40-minute infusion's or a nasal spray's peak (NCA) and to integrate the occupancy drive, whose
// time scale is the drug's distribution half-life, not the output step.
constexpr double kFineStepH = 5.0 / 60.0;
constexpr double kFineWindowH = 12.0;

inline std::string variable_suffix(const std::string& name) {
  std::string out;
  for (char c : name) out += (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Sorted, with times closer than a microsecond merged: they are the same time written two ways.
inline std::vector<double> sorted_unique(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  std::vector<double> merged;
  for (double t : times) {
    if (merged.empty() || t - merged.back() > 1e-9) merged.push_back(t);
  }
  return merged;
}

// sorted_unique on a vector in place (same times kept), for a per-patient grid that reuses its
// capacity: the per-patient loop does not allocate once the workspace has grown.
inline void sort_unique_in_place(std::vector<double>& times) {
  std::sort(times.begin(), times.end());
  std::size_t n = 0;
  for (double t : times) {
    if (n == 0 || t - times[n - 1] > 1e-9) times[n++] = t;
  }
  times.resize(n);
}

inline int grid_index(const std::vector<double>& grid, double t) {
  return static_cast<int>(std::lower_bound(grid.begin(), grid.end(), t - 1e-9) - grid.begin());
}

}  // namespace ketasim::trial
