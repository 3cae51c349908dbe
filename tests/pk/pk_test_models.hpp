#pragma once
// Small textbook models written inline so each closed-form test shows exactly what it solves.
#include <string>

#include "ketasim/pk/model.hpp"

namespace ketasim::pk::testing {

inline PkModel model_from_text(const std::string& yaml) { return parse_model(parse_yaml_text(yaml, "test-model.yaml")); }

// 1-compartment, first-order absorption from a depot (oral) or straight into central (IV).
inline std::string one_compartment_yaml(double cl_l_per_h, double v_l, double ka_per_h, double f_oral) {
  return "name: one-cmt\ndrug: test\n"
         "moieties: {drug: {molecular_weight_g_per_mol: 200}}\n"
         "compartments:\n"
         "  - {name: depot}\n"
         "  - {name: central, moiety: drug, volume: V, observed: true}\n"
         "parameters:\n"
         "  CL: {value: " + std::to_string(cl_l_per_h) + ", unit: L/h, source: test}\n"
         "  V: {value: " + std::to_string(v_l) + ", unit: L, source: test}\n"
         "  KA: {value: " + std::to_string(ka_per_h) + ", unit: 1/h, source: test}\n"
         "  F: {value: " + std::to_string(f_oral) + ", unit: '1', source: test}\n"
         "flows:\n"
         "  - {from: depot, to: central, rate_constant: KA}\n"
         "  - {from: central, to: elimination, clearance: CL}\n"
         "routes:\n"
         "  iv_bolus: {inputs: [{compartment: central}]}\n"
         "  iv_infusion: {inputs: [{compartment: central}]}\n"
         "  oral: {inputs: [{compartment: depot, bioavailability: F}]}\n";
}

inline std::string two_compartment_yaml() {
  return "name: two-cmt\ndrug: test\n"
         "moieties: {drug: {molecular_weight_g_per_mol: 200}}\n"
         "compartments:\n"
         "  - {name: central, moiety: drug, volume: V1, observed: true}\n"
         "  - {name: peripheral}\n"
         "parameters:\n"
         "  V1: {value: 10, unit: L, source: test}\n"
         "  K10: {value: 0.3, unit: 1/h, source: test}\n"
         "  K12: {value: 0.5, unit: 1/h, source: test}\n"
         "  K21: {value: 0.2, unit: 1/h, source: test}\n"
         "flows:\n"
         "  - {from: central, to: elimination, rate_constant: K10}\n"
         "  - {from: central, to: peripheral, rate_constant: K12}\n"
         "  - {from: peripheral, to: central, rate_constant: K21}\n"
         "routes:\n"
         "  iv_bolus: {inputs: [{compartment: central}]}\n";
}

}  // namespace ketasim::pk::testing
