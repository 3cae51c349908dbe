#include "withdrawal_counter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

#include "ketasim/io/results_schema.hpp"
#include "ketasim/population/random_stream.hpp"

namespace ketasim::trial {

WithdrawalCounter::WithdrawalCounter(const WithdrawalSpec& spec, const EndpointConfig& endpoints, const Layout& l,
                                     std::uint64_t seed)
    : spec_(spec), rules_(endpoints), l_(l), seed_(seed) {
  // Relapse and censoring happen at visits after randomization, or at randomization itself (a
  // patient with no score after it is censored at 0 d).
  std::set<double> times{0.0};
  for (double d : l.visits_d) {
    if (d > spec.at_d) times.insert(d - spec.at_d);
  }
  grid_.assign(times.begin(), times.end());
  counts_.assign(spec.groups.size() * 2, EventCounts(grid_.size()));
}

void WithdrawalCounter::define(io::ResultsFile& f) {
  std::vector<std::string> names;
  for (const auto& g : spec_.groups) names.push_back(g.name);
  f.add_label_dimension("withdrawal_group", names, "group of patients selected for randomized withdrawal");
  f.add_label_dimension("withdrawal_arm", {spec_.continue_arm, spec_.stop_arm},
                        "arm after randomization: continue, then stop");
  f.add_dimension("withdrawal_time", grid_, "d", "days since randomization (withdrawal.at)");
  auto make = [&](const char* name) {
    const io::VariableSchema& e = io::schema_entry(name);
    io::VariableSpec spec = io::variable_spec(e, e.dims);
    if (std::find(e.dims.begin(), e.dims.end(), "patient") != e.dims.end()) {
      spec.chunk_patients = static_cast<hsize_t>(l_.chunk_patients);
    }
    return f.create_variable(spec);
  };
  v_selected_ = make("withdrawal_selected");
  v_assigned_ = make("withdrawal_assigned");
  v_time_ = make("withdrawal_relapse_time_d");
  v_event_ = make("withdrawal_relapse_event");
  for (const char* name : {"withdrawal_n", "withdrawal_relapses", "withdrawal_km_at_risk", "withdrawal_km_events",
                           "withdrawal_km_censored", "withdrawal_km_survival", "withdrawal_km_lower", "withdrawal_km_upper",
                           "withdrawal_km_median_d", "withdrawal_km_median_lower_d", "withdrawal_km_median_upper_d",
                           "withdrawal_hazard_ratio", "withdrawal_hazard_ratio_lower", "withdrawal_hazard_ratio_upper",
                           "withdrawal_logrank_p"}) {
    v_summary_.push_back(make(name));
  }
}

void WithdrawalCounter::add(const Batch& b, io::ResultsFile& f) {
  const int n_visits = static_cast<int>(l_.visits_d.size());
  const std::size_t n = static_cast<std::size_t>(b.count);
  std::vector<std::int8_t> selected(n, -1), assigned(n, -1), event(2 * n, -1);
  std::vector<double> time(2 * n, std::numeric_limits<double>::quiet_NaN());
  const int arms[2] = {spec_.continue_index, spec_.stop_index};
  for (std::size_t p = 0; p < n; ++p) {
    const std::size_t ap0 = static_cast<std::size_t>(arms[0]) * n + p, ap1 = static_cast<std::size_t>(arms[1]) * n + p;
    if (b.status[ap0] != 0 || b.status[ap1] != 0) continue;  // failed in an arm: not randomized
    // Both arms are the same course until randomization; the continue arm's scores select.
    const int group = withdrawal_group(spec_, rules_, n_visits, b.baseline[ap0], &b.madrs[ap0 * n_visits]);
    if (group < 0) {
      ++not_selected_;
      continue;
    }
    selected[p] = static_cast<std::int8_t>(group);
    RandomStream stream(seed_, Stream::withdrawal, static_cast<std::uint64_t>(b.first) + p);
    const int arm = stream.uniform() < spec_.stop_probability ? 1 : 0;
    assigned[p] = static_cast<std::int8_t>(arm);
    for (int k = 0; k < 2; ++k) {
      const std::size_t ap = k == 0 ? ap0 : ap1;
      withdrawal_relapse(spec_, rules_, l_.visits_d.data(), n_visits, &b.madrs[ap * n_visits], time[k * n + p],
                         event[k * n + p]);
    }
    // The parallel-group comparison counts each patient once, in the arm they were randomized to.
    const double t = time[arm * n + p];
    const auto it = std::lower_bound(grid_.begin(), grid_.end(), t);
    if (it == grid_.end() || *it != t) throw std::logic_error("withdrawal relapse time off its grid");
    EventCounts& c = counts_[static_cast<std::size_t>(group) * 2 + arm];
    (event[arm * n + p] == 1 ? c.events : c.censored)[static_cast<std::size_t>(it - grid_.begin())] += 1;
  }
  const hsize_t first = static_cast<hsize_t>(b.first), count = static_cast<hsize_t>(n);
  f.write(v_selected_, {first}, {count}, selected.data());
  f.write(v_assigned_, {first}, {count}, assigned.data());
  f.write(v_time_, {0, first}, {2, count}, time.data());
  f.write(v_event_, {0, first}, {2, count}, event.data());
}

WithdrawalResult WithdrawalCounter::finish(io::ResultsFile& f) const {
  WithdrawalResult result;
  result.not_selected = not_selected_;
  const std::size_t n_groups = spec_.groups.size(), n_t = grid_.size();
  std::vector<std::int64_t> randomized(n_groups * 2), relapses(n_groups * 2), at_risk(n_groups * 2 * n_t),
      events(at_risk.size()), censored(at_risk.size());
  std::vector<double> survival(at_risk.size()), lower(at_risk.size()), upper(at_risk.size()), median(n_groups * 2),
      median_lower(median.size()), median_upper(median.size()), hr(n_groups), hr_lower(n_groups), hr_upper(n_groups),
      logrank_p(n_groups);
  for (std::size_t g = 0; g < n_groups; ++g) {
    WithdrawalGroupResult r;
    r.name = spec_.groups[g].name;
    for (int k = 0; k < 2; ++k) {
      const std::size_t gk = g * 2 + k;
      const EventCounts& c = counts_[gk];
      const KaplanMeier km = kaplan_meier(grid_, c);
      long long n = 0, e = 0;
      for (std::size_t t = 0; t < n_t; ++t) {
        n += c.events[t] + c.censored[t];
        e += c.events[t];
        at_risk[gk * n_t + t] = km.at_risk[t];
        events[gk * n_t + t] = c.events[t];
        censored[gk * n_t + t] = c.censored[t];
        survival[gk * n_t + t] = km.survival[t];
        lower[gk * n_t + t] = km.lower[t];
        upper[gk * n_t + t] = km.upper[t];
      }
      randomized[gk] = r.randomized[k] = n;
      relapses[gk] = r.relapses[k] = e;
      r.median[k] = km_quantile(grid_, c, km);
      median[gk] = r.median[k].estimate;
      median_lower[gk] = r.median[k].lower;
      median_upper[gk] = r.median[k].upper;
    }
    r.cox = cox_two_groups(counts_[g * 2], counts_[g * 2 + 1]);
    hr[g] = r.cox.hazard_ratio;
    hr_lower[g] = r.cox.lower;
    hr_upper[g] = r.cox.upper;
    logrank_p[g] = r.cox.logrank_p;
    result.groups.push_back(r);
  }
  const hsize_t G = n_groups, T = n_t;
  int i = 0;
  f.write(v_summary_[i++], {0, 0}, {G, 2}, randomized.data());
  f.write(v_summary_[i++], {0, 0}, {G, 2}, relapses.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, at_risk.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, events.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, censored.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, survival.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, lower.data());
  f.write(v_summary_[i++], {0, 0, 0}, {G, 2, T}, upper.data());
  f.write(v_summary_[i++], {0, 0}, {G, 2}, median.data());
  f.write(v_summary_[i++], {0, 0}, {G, 2}, median_lower.data());
  f.write(v_summary_[i++], {0, 0}, {G, 2}, median_upper.data());
  f.write(v_summary_[i++], {0}, {G}, hr.data());
  f.write(v_summary_[i++], {0}, {G}, hr_lower.data());
  f.write(v_summary_[i++], {0}, {G}, hr_upper.data());
  f.write(v_summary_[i++], {0}, {G}, logrank_p.data());
  f.set_attribute("withdrawal_at_d", spec_.at_d);
  f.set_attribute("withdrawal_ratio", std::to_string(spec_.ratio[0]) + ":" + std::to_string(spec_.ratio[1]));
  f.set_attribute("withdrawal_others", spec_.others_open_label ? "open_label" : "leave");
  return result;
}

}  // namespace ketasim::trial
