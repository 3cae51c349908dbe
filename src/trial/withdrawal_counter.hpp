#pragma once
// Internal to the trial engine: randomized withdrawal (trial/withdrawal.hpp) applied to each batch
// as it streams past the writer. Per patient, the group, the randomized arm and the relapse time
// under both arms go to the file; relapse counts per group and randomized arm accumulate in
// patient order (integer counts: identical for any thread count) for the Kaplan-Meier curves,
// medians, Cox hazard ratio and log-rank test written at the end.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "batch.hpp"
#include "ketasim/io/results_file.hpp"
#include "ketasim/trial/endpoint_rules.hpp"
#include "ketasim/trial/survival.hpp"
#include "ketasim/trial/withdrawal.hpp"

namespace ketasim::trial {

class WithdrawalCounter {
 public:
  WithdrawalCounter(const WithdrawalSpec& spec, const EndpointConfig& endpoints, const Layout& l, std::uint64_t seed);
  // Dimensions and variables (docs/results-format.md, `withdrawal_*`).
  void define(io::ResultsFile& f);
  void add(const Batch& b, io::ResultsFile& f);
  WithdrawalResult finish(io::ResultsFile& f) const;

 private:
  const WithdrawalSpec& spec_;
  EndpointRules rules_;
  const Layout& l_;
  std::uint64_t seed_;
  std::vector<double> grid_;              // days since randomization an event or censoring can take
  std::vector<EventCounts> counts_;       // [group][arm] over patients randomized to the arm
  long long not_selected_ = 0;
  int v_selected_ = -1, v_assigned_ = -1, v_time_ = -1, v_event_ = -1;
  std::vector<int> v_summary_;
};

}  // namespace ketasim::trial
