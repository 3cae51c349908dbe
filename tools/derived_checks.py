#!/usr/bin/python3
"""Independent oracle for the shipped PK models (models/*.yaml).

For a typical subject (70 kg, age 40 y, male, no random effects) it reads each model file, builds the
linear rate matrix from `flows`, and derives by steady-state algebra (constant input, solve K a = -input):
  CL  = input rate / plasma concentration of the observed moiety (or total),
  Vss = amount of that moiety in the body / its plasma concentration,
  F   = per route input: fraction x bioavailability x (AUC via that compartment / AUC via central).
These are compared with figures worked out by hand from ../shared/reference/ketamine-pk-pd.md (the only
number source; tags [A]/[T]/[C] as there). Exit status 1 if any check is outside its tolerance.
Python 3 stdlib + PyYAML only:  /usr/bin/python3 tools/derived_checks.py [models_dir]
"""
import os
import sys

import yaml

TOL = {"F": 0.02, "CL": 2.0, "Vss": 1.0}     # fractions, L/h, L
WT, AGE = 70.0, 40.0

# unit -> (factor to canonical h / L / L/h / 1/h, per_kg)
UNITS = {"1": (1, 0), "fraction": (1, 0), "h": (1, 0), "min": (1 / 60, 0), "s": (1 / 3600, 0), "d": (24, 0),
         "w": (168, 0), "L": (1, 0), "mL": (1e-3, 0), "L/h": (1, 0), "L/min": (60, 0), "mL/min": (0.06, 0),
         "1/h": (1, 0), "/h": (1, 0), "h-1": (1, 0), "1/min": (60, 0), "/min": (60, 0), "min-1": (60, 0),
         "1/d": (1 / 24, 0), "/d": (1 / 24, 0), "L/kg": (1, 1), "mL/kg": (1e-3, 1), "L/h/kg": (1, 1),
         "L/min/kg": (60, 1), "mL/min/kg": (0.06, 1)}


def typical_params(m):
    ref = m.get("reference_weight_kg", 70)
    p = {}
    for name, d in m["parameters"].items():
        f, per_kg = UNITS[d["unit"]]
        v = d["value"] * f * (WT if per_kg else (WT / ref) ** d.get("allometric_exponent", 0))
        p[name] = v
    for c in m.get("covariates", []):
        if c["covariate"] == "age_y" and c["model"] == "linear_above":
            p[c["parameter"]] += c["slope"] * UNITS[c["unit"]][0] * max(0.0, AGE - c["reference"])
        # sex (female_factor) does not apply to the male typical subject; weight is allometric above
    return p


def solve(a, b):
    """Gaussian elimination with partial pivoting (a: n x n, b: n)."""
    n = len(b)
    a = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(a[r][c]))
        a[c], a[piv] = a[piv], a[c]
        for r in range(n):
            if r != c and a[r][c]:
                f = a[r][c] / a[c][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    return [a[i][n] / a[i][i] for i in range(n)]


class Model:
    def __init__(self, path):
        self.m = yaml.safe_load(open(path))
        self.p = typical_params(self.m)
        self.cmts = [c["name"] for c in self.m["compartments"]]
        self.idx = {n: i for i, n in enumerate(self.cmts)}
        self.vol = {c["name"]: self.p[c["volume"]] for c in self.m["compartments"] if "volume" in c}
        n = len(self.cmts)
        self.K = [[0.0] * n for _ in range(n)]
        for f in self.m["flows"]:
            src = self.idx[f["from"]]
            k = self.p[f["rate_constant"]] if "rate_constant" in f else self.p[f["clearance"]] / self.vol[f["from"]]
            self.K[src][src] -= k
            if f["to"] != "elimination":
                self.K[self.idx[f["to"]]][src] += k

    def steady(self, inputs):
        """Amounts at steady state for constant input rates {compartment: mg/h}."""
        b = [-inputs.get(c, 0.0) for c in self.cmts]
        return dict(zip(self.cmts, solve(self.K, b)))

    def conc(self, a, moieties):
        """Plasma concentration (mg/L) of the given moieties: sum over their observed compartments."""
        return sum(a[c["name"]] / self.vol[c["name"]] for c in self.m["compartments"]
                   if c.get("observed") and c.get("moiety") in moieties)

    def amount(self, a, moieties, exclude=()):
        return sum(a[c["name"]] for c in self.m["compartments"]
                   if c.get("moiety") in moieties and c["name"] not in exclude)

    def iv_cl_vss(self, moieties, exclude=()):
        a = self.steady({i["compartment"]: self.num(i.get("fraction", 1))
                         for i in self.m["routes"]["iv_infusion"]["inputs"]})
        c = self.conc(a, moieties)
        return 1.0 / c, self.amount(a, moieties, exclude) / c

    def num(self, x):
        return self.p[x] if isinstance(x, str) else float(x)

    def route_F(self, route, devices, central, moiety):
        """Mean systemic availability per device over a session of `devices` devices (AUC ratio vs IV)."""
        auc_iv = self.conc(self.steady({central: 1.0}), [moiety])
        total = 0.0
        for d in range(devices):
            used = 0.0
            for i in self.m["routes"][route]["inputs"]:
                fr = i.get("fraction", 1)
                fr = 1.0 - used if fr == "remainder" else self.num(fr)
                if d > 0 and "later_device_factor" in i:
                    fr *= self.num(i["later_device_factor"])
                used += fr
                ratio = self.conc(self.steady({i["compartment"]: 1.0}), [moiety]) / auc_iv
                total += fr * self.num(i.get("bioavailability", 1)) * ratio
        return total / devices


def expected():
    """Reference figures, by hand from ../shared/reference/ketamine-pk-pd.md (not from the YAML files)."""
    v1, k10, k12, k13, k21, k31 = 0.063 * WT, 0.4381 * 60, 0.5921, 0.5900, 0.2470, 0.0146   # Domino, sec. 1 [T]
    cv1, ck10, ck12, ck21 = 1.7522 * WT, 0.0109 * 60, 0.0186, 0.0137                       # Clements, sec. 1 [T]
    return {
        "domino-1984": {"CL": k10 * v1, "Vss": v1 * (1 + k12 / k21 + k13 / k31)},
        "clements-nimmo-1981": {"CL": ck10 * cv1, "Vss": cv1 * (1 + ck12 / ck21)},
        "herd-anderson-2007": {"CL": 90.0, "Vss": 38.7 + 102},                                # sec. 1 [A]
        "p1-benchmark": {"CL": 75.0, "Vss": 20 + 50 + 150},                                   # benchmarks README
        # sec. 2 [C] checks: E 0.72, CL ~109 L/h, gut x (1-E) 0.178, Vc+Vp1+Vp2 752 L, F(IN) 0.62/0.54/0.51
        "perez-ruixo-2021-esketamine": {"E": 0.72, "CL": 109.0, "F_gut_sys": 0.178, "Vss": 752.0,
                                        "F_IN_28mg": 0.62, "F_IN_56mg": 0.54, "F_IN_84mg": 0.51},
    }


def main():
    mdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models")
    exp, got, info = expected(), {}, []
    for name in ["domino-1984", "clements-nimmo-1981", "herd-anderson-2007", "p1-benchmark"]:
        m = Model(os.path.join(mdir, name + ".yaml"))
        moieties = m.m.get("totals", {}).get("ketamine") or ["ketamine"]
        got[name] = dict(zip(["CL", "Vss"], m.iv_cl_vss(moieties)))
    m = Model(os.path.join(mdir, "perez-ruixo-2021-esketamine.yaml"))
    p = m.p
    cl, vss_all = m.iv_cl_vss(["esketamine"])
    _, vss = m.iv_cl_vss(["esketamine"], exclude=["liver"])
    e = 1.0 - m.conc(m.steady({"liver": 1.0}), ["esketamine"]) / m.conc(m.steady({"central": 1.0}), ["esketamine"])
    got["perez-ruixo-2021-esketamine"] = {
        "E": e, "CL": cl, "F_gut_sys": p["F_GUT"] * (1 - e), "Vss": vss,
        **{f"F_IN_{28 * n}mg": m.route_F("intranasal", n, "central", "esketamine") for n in (1, 2, 3)}}
    # closed-form cross-check of the matrix result: well-stirred liver
    e_ws = p["VH"] * (p["KEL"] + p["KMET"]) / (p["QH"] + p["VH"] * (p["KEL"] + p["KMET"]))
    info += [f"esketamine E well-stirred formula {e_ws:.4f}, CL = Qh x E = {p['QH'] * e_ws:.2f} L/h",
             f"esketamine Vss incl. liver (amount/Cp at steady state) {vss_all:.1f} L "
             f"(= 752 + Vh x (1-E)); paper/abstract Vss 752 L excludes the liver cmt",
             "for context [A]: esketamine abstract CL 114 L/h; label IV CL 89 L/h, Vss 709 L; "
             "racemic ketamine Kamp 2020 CL 79 (69-90) L/h, V 252 (200-304) L per 70 kg"]
    n_bad = 0
    print(f"{'model':30s} {'quantity':10s} {'from YAML':>10s} {'reference':>10s} {'tol':>6s}  ok")
    for model, checks in exp.items():
        for q, ref in checks.items():
            tol = TOL["CL"] if q == "CL" else TOL["Vss"] if q == "Vss" else TOL["F"]
            val = got[model][q]
            ok = abs(val - ref) <= tol
            n_bad += not ok
            print(f"{model:30s} {q:10s} {val:10.4f} {ref:10.4f} {tol:6.2f}  {'yes' if ok else 'NO'}")
    print("(CL in L/h, Vss in L, E and F fractions; typical subject 70 kg, 40 y)")
    for line in info:
        print("note:", line)
    print("FAILED" if n_bad else "all checks passed", f"({n_bad} outside tolerance)")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
