#include "ketasim/trial/withdrawal.hpp"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <memory>
#include <sstream>

#include "ketasim/core/units.hpp"
#include "ketasim/pk/regimen.hpp"
#include "ketasim/trial/sweep.hpp"

namespace ketasim::trial {

namespace {

std::string format_number(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// Sessions before `at_h` must be the same in both arms (time, amount and devices), and so must the
// model and background: only then are the two arms the same patients' same course up to `at`.
std::string first_difference_before(const ArmConfig& a, const ArmConfig& b, double at_h) {
  if (a.model_path != b.model_path) return "their PK models differ ('" + a.model_path + "', '" + b.model_path + "')";
  if (a.background != b.background) return "their backgrounds differ ('" + a.background + "', '" + b.background + "')";
  if (a.regimen.route != b.regimen.route) return "their routes differ";
  if (a.regimen.dose_per_kg != b.regimen.dose_per_kg) return "one doses in mg, the other in mg/kg";
  auto before = [&](const pk::Regimen& r) {
    std::vector<pk::Session> s = pk::expand_sessions(r);
    s.erase(std::remove_if(s.begin(), s.end(), [&](const pk::Session& x) { return x.time_h >= at_h - 1e-9; }), s.end());
    return s;
  };
  const auto sa = before(a.regimen), sb = before(b.regimen);
  for (std::size_t i = 0; i < std::max(sa.size(), sb.size()); ++i) {
    if (i >= sa.size() || i >= sb.size() || sa[i].time_h != sb[i].time_h || sa[i].dose != sb[i].dose ||
        sa[i].devices != sb[i].devices) {
      return "session " + std::to_string(i + 1) + " before randomization differs";
    }
  }
  if (a.regimen.adherence_probability != b.regimen.adherence_probability) return "their adherence differs";
  if (a.regimen.route == pk::Route::iv_infusion && a.regimen.infusion_duration_h != b.regimen.infusion_duration_h) {
    return "their infusion durations differ";
  }
  return "";
}

}  // namespace

WithdrawalSpec parse_withdrawal(const StudyConfig& config, Diagnostics& problems) {
  WithdrawalSpec spec;
  const auto file = std::make_shared<const std::string>(config.path);
  const YAML::Node block = config.effective.IsMap() ? config.effective["withdrawal"] : YAML::Node();
  const InputNode node(block, file, "withdrawal", &problems);
  spec.location = node.location();
  if (!node.is_map()) {
    node.fail("expected a mapping with at, continue, stop and groups (docs/config.md, withdrawal)");
    return spec;
  }
  node.check_keys({"at", "continue", "stop", "ratio", "groups", "others"});
  const auto& visits = config.endpoints.visits_d;
  const InputNode at = node.required("at");
  if (at.is_scalar()) {
    spec.at_d = at.quantity(Dimension::time) / 24.0;
    const auto it = std::find(visits.begin(), visits.end(), spec.at_d);
    if (it == visits.end() || it == visits.begin()) {
      at.fail("expected one of the study's visits after the first (endpoints.visits): the selection reads the "
              "visits up to it, found '" + at.text() + "'");
    } else if (it + 1 == visits.end()) {
      at.fail("randomization at the last visit leaves no visit to see a relapse");
    } else {
      spec.at_visit = static_cast<int>(it - visits.begin());
    }
  }
  auto arm_index = [&](const InputNode& n, std::string& name) {
    name = n.text();
    for (std::size_t a = 0; a < config.arms.size(); ++a) {
      if (config.arms[a].name == name) return static_cast<int>(a);
    }
    std::string list;
    for (const auto& a : config.arms) list += (list.empty() ? "" : ", ") + a.name;
    if (n.is_scalar()) n.fail("expected an arm of the study (" + list + "), found '" + name + "'");
    return -1;
  };
  const InputNode cont = node.required("continue"), stop = node.required("stop");
  spec.continue_index = arm_index(cont, spec.continue_arm);
  spec.stop_index = arm_index(stop, spec.stop_arm);
  if (spec.continue_index >= 0 && spec.continue_index == spec.stop_index) stop.fail("`stop` must be another arm than `continue`");
  if (spec.continue_index >= 0 && spec.stop_index >= 0 && spec.continue_index != spec.stop_index && spec.at_visit > 0) {
    const ArmConfig& a = config.arms[spec.continue_index];
    const ArmConfig& b = config.arms[spec.stop_index];
    for (const ArmConfig* arm : {&a, &b}) {
      if (arm->regimen.from_data() || arm->regimen.adaptive()) {
        node.fail("arm '" + arm->name + "' doses from a data set or by a response-guided rule; randomized withdrawal "
                  "needs both arms' sessions before randomization fixed by their schedules");
      }
    }
    const std::string why = first_difference_before(a, b, spec.at_d * 24.0);
    if (!why.empty()) {
      stop.fail("arms '" + a.name + "' and '" + b.name + "' must give the same course until randomization at day " +
                format_number(spec.at_d) + ", but " + why);
    }
  }
  if (const auto r = node.optional("ratio")) {
    const auto parts = r->sequence();
    if (r->is_sequence() && parts.size() != 2) r->fail("expected [continue, stop], e.g. [1, 1]");
    if (parts.size() == 2) {
      const long long c = parts[0].integer(), s = parts[1].integer();
      if (c < 1 || s < 1 || c > 100 || s > 100) {
        r->fail("expected two whole numbers from 1 to 100");
      } else {
        spec.ratio = {static_cast<int>(c), static_cast<int>(s)};
      }
    }
  }
  spec.stop_probability = static_cast<double>(spec.ratio[1]) / (spec.ratio[0] + spec.ratio[1]);
  if (const auto o = node.optional("others")) spec.others_open_label = o->choice({"leave", "open_label"}) == "open_label";
  const InputNode groups = node.required("groups");
  const auto entries = groups.sequence();
  if (groups.is_sequence() && entries.empty()) groups.fail("expected at least one group");
  for (const auto& entry : entries) {
    if (!entry.is_map()) {
      entry.fail("expected a mapping {name, rule, visits, at_least, last}");
      continue;
    }
    entry.check_keys({"name", "rule", "visits", "at_least", "last"});
    WithdrawalGroup g;
    const InputNode name = entry.required("name");
    g.name = name.text();
    if (name.is_scalar() && !is_identifier(g.name)) name.fail("expected a name of letters, digits and _, found '" + g.name + "'");
    for (const auto& other : spec.groups) {
      if (other.name == g.name) name.fail("group '" + g.name + "' is listed twice");
    }
    g.on_remission = entry.required("rule").choice({"remission", "response"}) == "remission";
    auto count = [&](const char* key, int fallback) {
      if (!entry.has(key)) return fallback;
      const long long n = entry.child(key).integer();
      if (n < 1 || n > 1000) {
        entry.child(key).fail("expected a whole number from 1");
        return fallback;
      }
      return static_cast<int>(n);
    };
    g.visits = count("visits", 1);
    g.at_least = count("at_least", g.visits);
    g.last = count("last", 1);
    if (g.at_least > g.visits) entry.child("at_least").fail("at_least cannot exceed visits");
    if (g.last > g.at_least) entry.child("last").fail("last cannot exceed at_least");
    if (spec.at_visit > 0 && g.visits > spec.at_visit) {
      // Visit 0 is the baseline assessment, never a sign of remission or response.
      entry.child("visits").fail("only " + std::to_string(spec.at_visit) + " visits after baseline up to day " +
                                 format_number(spec.at_d));
    }
    spec.groups.push_back(g);
  }
  return spec;
}

int withdrawal_group(const WithdrawalSpec& spec, const EndpointRules& rules, int n_visits, double baseline,
                     const float* madrs) {
  if (spec.at_visit < 0 || spec.at_visit >= n_visits) return -1;
  for (std::size_t g = 0; g < spec.groups.size(); ++g) {
    const WithdrawalGroup& group = spec.groups[g];
    int met = 0;
    bool last_met = true;
    for (int k = 0; k < group.visits; ++k) {  // k = 0 is the visit at `at`, then further back
      const double score = madrs[spec.at_visit - k];
      const bool ok = !std::isnan(score) && (group.on_remission ? rules.remitter(score) : rules.responder(baseline, score));
      met += ok;
      if (k < group.last) last_met &= ok;
    }
    if (met >= group.at_least && last_met) return static_cast<int>(g);
  }
  return -1;
}

void withdrawal_relapse(const WithdrawalSpec& spec, const EndpointRules& rules, const double* visits_d, int n_visits,
                        const float* madrs, double& time_d, std::int8_t& event) {
  const int needed = rules.config().relapse_consecutive;
  int run = 0;
  time_d = 0.0;
  event = 0;
  for (int v = spec.at_visit + 1; v < n_visits; ++v) {
    const double score = madrs[v];
    if (std::isnan(score)) break;  // left the study: censored at the last scored visit
    time_d = visits_d[v] - spec.at_d;
    run = rules.relapse_score(score) ? run + 1 : 0;
    if (run >= needed) {
      event = 1;
      return;
    }
  }
}

}  // namespace ketasim::trial
