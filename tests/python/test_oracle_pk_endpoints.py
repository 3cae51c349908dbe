#!/usr/bin/python3
"""Everything the results file stores about PK and endpoints, against independent oracles.

Study tests/data/oracles/closed-form.yaml: a one-compartment IV model (closed form), full hourly
concentrations, 400 patients, two arms (0.5 mg/kg over 40 min every 3.5 d x 8; 1 mg/kg over 1 h
every 2 d x 10 with adherence 0.6). Checked against numpy/closed forms, never ketasim's code:

* every stored concentration at every output time vs the closed form with the patient's own
  stored pk_CL, pk_V and weight (doses taken are read off the curve for the adherence arm);
* conc_*_mean / conc_*_sd vs numpy over the ok patients at each output time;
* cmax, tmax and auc per dose vs the closed form; auc is the dosing-interval AUC
  (docs/results-format.md: "NCA per dose over the dosing interval (last dose: to the end of the
  study)"), whose intervals here are 48 h and 84 h, not 24 h;
* response, remission, relapse and madrs_change recomputed from madrs and baseline_madrs by the
  documented rules, with exact equality, without dropout, with dropout (non-responder
  imputation) and with dropout and LOCF;
* adherence: sessions are taken independently with the stated probability.
"""
import json
import math
import os
import sys
import tempfile
import unittest

import h5py
import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracles  # noqa: E402

# Arms of closed-form.yaml: (dose mg/kg, infusion h, interval h, sessions, adherence).
ARMS = {
    "every_3_5d": (0.5, 40.0 / 60.0, 84.0, 8, 1.0),
    "every_2d_adherence": (1.0, 1.0, 48.0, 10, 0.6),
}
DURATION_H = 56 * 24.0
# Endpoint settings of closed-form.yaml.
PRIMARY_D, REMISSION, RESPONSE_FRACTION, RELAPSE_THRESHOLD, RELAPSE_VISITS = 28.0, 12, 0.5, 22, 2
# Concentrations are stored as float32: relative rounding <= 2^-24 = 6e-8. The exact solver adds
# < 1e-12 relative (one matrix exponential per step). 1e-6 leaves margin for neither to matter
# while any wrong dose, time, parameter or index gives errors of percent or more.
CONC_RTOL = 1e-6
CONC_ATOL = 1e-9  # ng/mL: long after the last dose the curve is ~1e-20 ng/mL


def read(path):
    with h5py.File(path, "r") as f:
        d = {name: f[name][...] for name in f if isinstance(f[name], h5py.Dataset)}
        d["arm"] = [a.decode() if isinstance(a, bytes) else a for a in d["arm"]]
        d["config_json"] = json.loads(f.attrs["config_json"])
    return d


def taken_sessions(conc_row, times_h, session_times):
    """A taken infusion raises C over its first hour by at least (R/CL)(1 - e^{-k}) (hundreds of
    ng/mL here); a missed one lets C fall. The closed-form comparison then checks the guess: any
    wrong session shows as a hundreds-of-ng/mL mismatch."""
    index = {t: i for i, t in enumerate(times_h)}
    return [conc_row[index[t + 1.0]] > conc_row[index[t]] for t in session_times]


class ClosedFormOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_oracle_")
        files = {
            "plain": [],
            "nri": ["--set", "endpoints.dropout.rate_per_week=0.15"],
            "locf": ["--set", "endpoints.dropout.rate_per_week=0.15", "--set", "endpoints.dropout.imputation=locf"],
        }
        cls.data = {}
        for name, extra in files.items():
            path = os.path.join(cls.tmp.name, name + ".h5")
            oracles.run("closed-form.yaml", path, *extra)
            cls.data[name] = read(path)
        d = cls.data["plain"]
        cls.times = d["time"]
        cls.taken = {}
        for a, arm in enumerate(d["arm"]):
            _, _, interval, n, _ = ARMS[arm]
            sessions = [s * interval for s in range(n)]
            cls.taken[arm] = np.array([taken_sessions(d["conc_ketamine"][a, p], list(cls.times), sessions)
                                       for p in range(d["conc_ketamine"].shape[1])])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def patient_oracle(self, a, p):
        d = self.data["plain"]
        arm = d["arm"][a]
        dose_per_kg, duration, interval, n, _ = ARMS[arm]
        sessions = [s * interval for s in range(n)]
        doses = [t for t, took in zip(sessions, self.taken[arm][p]) if took]
        return sessions, doses, dose_per_kg * d["weight_kg"][p], duration, d["pk_CL"][a, p], d["pk_V"][a, p]

    def test_study_is_what_the_oracle_assumes(self):
        d = self.data["plain"]
        self.assertEqual(d["arm"], list(ARMS))
        self.assertTrue((d["status"] == 0).all())
        np.testing.assert_array_equal(self.times, np.arange(0.0, DURATION_H + 0.5, 1.0))
        cfg = d["config_json"]
        for arm_cfg, (name, spec) in zip(cfg["arms"], ARMS.items()):
            self.assertEqual(arm_cfg["name"], name)
            self.assertEqual(len(self.taken[name][0]), spec[3])

    def test_every_concentration_matches_the_closed_form(self):
        d = self.data["plain"]
        worst = 0.0
        for a in range(len(d["arm"])):
            for p in range(d["conc_ketamine"].shape[1]):
                sessions, doses, dose_mg, duration, cl, v = self.patient_oracle(a, p)
                expected = oracles.infusion_concentration(self.times, doses, dose_mg, duration, cl, v)
                got = d["conc_ketamine"][a, p].astype(np.float64)
                err = np.abs(got - expected)
                bad = err > CONC_RTOL * np.abs(expected) + CONC_ATOL
                if bad.any():
                    i = int(np.argmax(bad))
                    self.fail(f"arm {d['arm'][a]} patient {p} t={self.times[i]} h: stored {got[i]!r}, "
                              f"closed form {expected[i]!r} (CL {cl}, V {v}, dose {dose_mg} mg)")
                worst = max(worst, float(np.max(err / (np.abs(expected) + CONC_ATOL))))
        print(f"worst relative concentration error {worst:.2e}", file=sys.stderr)

    def test_mean_and_sd_are_over_patients_at_each_output_time(self):
        for name, d in self.data.items():
            for a in range(len(d["arm"])):
                ok = d["status"][a] == 0
                c = d["conc_ketamine"][a][ok].astype(np.float64)
                mean, sd = c.mean(axis=0), c.std(axis=0, ddof=1)
                # The file's mean/SD come from the double concentrations, ours from their float32
                # copies: both differ by <= 6e-8 relative per value, i.e. <= 6e-8 of the mean and
                # <= 6e-8 x sqrt(mean^2 + sd^2) of the SD (CV here >= 25%, so < 3e-7 of the SD).
                np.testing.assert_allclose(d["conc_ketamine_mean"][a], mean, rtol=1e-6, atol=1e-12, err_msg=name)
                np.testing.assert_allclose(d["conc_ketamine_sd"][a], sd, rtol=1e-6, atol=1e-9, err_msg=name)

    def test_cmax_tmax_auc_per_dose_match_the_closed_form(self):
        d = self.data["plain"]
        for a in range(len(d["arm"])):
            n_sessions = ARMS[d["arm"][a]][3]
            for p in range(d["cmax_ketamine"].shape[1]):
                sessions, doses, dose_mg, duration, cl, v = self.patient_oracle(a, p)
                k = cl / v
                peak = float(np.max(d["conc_ketamine"][a, p]))
                for s, start in enumerate(sessions):
                    end = sessions[s + 1] if s + 1 < n_sessions else DURATION_H
                    took = start in doses
                    # C rises during a taken infusion (R/CL >> any trough here) and falls after it;
                    # with a missed dose it only falls: the peak is at the end of the infusion or at
                    # the start, both sampled exactly.
                    t_peak = start + duration if took else start
                    cmax = oracles.infusion_concentration([t_peak], doses, dose_mg, duration, cl, v)[0]
                    auc = oracles.infusion_auc(start, end, doses, dose_mg, duration, cl, v)
                    where = f"arm {d['arm'][a]} patient {p} dose {s}"
                    self.assertLessEqual(abs(d["cmax_ketamine"][a, p, s] - cmax), 1e-9 * cmax, where)
                    self.assertAlmostEqual(d["tmax_ketamine"][a, p, s], t_peak - start, delta=1e-9, msg=where)
                    # The AUC is integrated from sampled concentrations. A monoexponential decline
                    # is integrated exactly by the log-down rule; the rise is sampled every 5 min,
                    # where the trapezoid rule errs by at most T h^2/12 max|C''| with
                    # |C''| <= k R/V (R/V in ng/mL/h). Plus the solver's error: relative 1e-7 (7.5e-9
                    # measured after weeks of steps), and absolute 1e-12 x peak x interval, because
                    # a matrix exponential errs relative to the state's scale, so a tail 1e-11 of the
                    # peak carries a relative error of 1e-5 (measured) that no one can see.
                    h = 5.0 / 60.0
                    bound = duration * h * h / 12.0 * k * (dose_mg / duration / v * 1000.0) if took else 0.0
                    bound += 1e-7 * auc + 1e-12 * peak * (end - start)
                    self.assertLessEqual(abs(d["auc_ketamine"][a, p, s] - auc), bound,
                                         f"{where}: stored {d['auc_ketamine'][a, p, s]}, interval AUC {auc}")
            # The padding beyond an arm's schedule is NaN.
            self.assertTrue(np.isnan(d["cmax_ketamine"][a, :, n_sessions:]).all())

    def check_flags(self, name, locf):
        d = self.data[name]
        visits = list(d["visit"])
        primary = visits.index(PRIMARY_D)
        counts = np.zeros(4, dtype=int)
        for a in range(len(d["arm"])):
            for p in range(d["madrs"].shape[1]):
                self.assertEqual(d["status"][a, p], 0)
                scores, baseline = d["madrs"][a, p], float(d["baseline_madrs"][a, p])
                # docs/response-model.md 1.1 and 1.6: the baseline is rounded to an integer and is
                # the day-0 score; observed scores are integers in 0-60.
                self.assertEqual(baseline, round(baseline))
                self.assertEqual(scores[0], baseline)
                seen = scores[~np.isnan(scores)]
                self.assertTrue(((seen == np.round(seen)) & (seen >= 0) & (seen <= 60)).all(), list(scores))
                expected = oracles.endpoint_flags(scores, baseline, primary, RESPONSE_FRACTION, REMISSION,
                                                  RELAPSE_THRESHOLD, RELAPSE_VISITS, locf)
                got = (int(d["response"][a, p]), int(d["remission"][a, p]), int(d["relapse"][a, p]),
                       float(d["madrs_change"][a, p]))
                self.assertEqual(got, expected, f"{name}: arm {d['arm'][a]} patient {p}, scores {list(scores)}, "
                                                f"baseline {baseline}: (response, remission, relapse, change)")
                counts += np.array(expected[:3] + (int(math.isnan(scores[primary])),))
        return counts

    def test_flags_without_dropout(self):
        counts = self.check_flags("plain", locf=False)
        # The study is only a test if every rule fires, and fires for some but not all patients.
        for label, c in zip(("response", "remission", "relapse"), counts[:3]):
            self.assertTrue(20 <= c <= 780, f"{label}: {c} of 800")
        self.assertEqual(counts[3], 0)

    def test_flags_with_dropout_non_responder_imputation(self):
        counts = self.check_flags("nri", locf=False)
        self.assertGreater(counts[3], 50)  # patients who left before the primary visit

    def test_flags_with_dropout_locf(self):
        counts = self.check_flags("locf", locf=True)
        self.assertGreater(counts[3], 50)
        # LOCF counts some dropouts' last scores as responses, NRI none.
        self.assertGreater(self.data["locf"]["response"].sum(), self.data["nri"]["response"].sum())

    def test_dropout_follows_the_stated_hazard_and_is_the_same_in_every_arm(self):
        d = self.data["nri"]
        left = np.isnan(d["madrs"])  # (arm, patient, visit)
        np.testing.assert_array_equal(left[0], left[1])
        # Once gone, always gone.
        self.assertTrue((np.diff(left[0].astype(int), axis=1) >= 0).all())
        n = left.shape[1]
        for v, day in enumerate(d["visit"]):
            stay = math.exp(-0.15 * day / 7.0)
            observed = 1.0 - left[0, :, v].mean()
            se = math.sqrt(stay * (1 - stay) / n) if 0 < stay < 1 else 1e-12
            self.assertLess(abs(observed - stay), 5 * se + 1e-12, f"day {day}: in study {observed}, expected {stay}")

    def test_adherence_sessions_independent_with_stated_probability(self):
        taken = self.taken["every_2d_adherence"].astype(float)  # patient x session
        n_patients, n_sessions = taken.shape
        p = 0.6
        self.assertTrue(self.taken["every_3_5d"].all())
        # Per-session rate within 5 SE of 0.6.
        se = math.sqrt(p * (1 - p) / n_patients)
        for s in range(n_sessions):
            self.assertLess(abs(taken[:, s].mean() - p), 5 * se, f"session {s}")
        # Independence across sessions: the number taken per patient is Binomial(10, 0.6)
        # (one draw for all sessions would give only 0 or 10), and neighbouring sessions are
        # uncorrelated.
        k = taken.sum(axis=1).astype(int)
        expected = stats.binom.pmf(np.arange(n_sessions + 1), n_sessions, p) * n_patients
        observed = np.bincount(k, minlength=n_sessions + 1)
        # Pool the sparse tails (expected < 5) before the chi-square test.
        lo, hi = 0, n_sessions
        while expected[: lo + 1].sum() < 5:
            lo += 1
        while expected[hi:].sum() < 5:
            hi -= 1
        obs = np.concatenate([[observed[: lo + 1].sum()], observed[lo + 1: hi], [observed[hi:].sum()]])
        exp = np.concatenate([[expected[: lo + 1].sum()], expected[lo + 1: hi], [expected[hi:].sum()]])
        chi2, pvalue = stats.chisquare(obs, exp)
        self.assertGreater(pvalue, 1e-4, f"taken per patient {observed.tolist()} vs Binomial {np.round(expected, 1).tolist()}")
        lag1 = np.corrcoef(taken[:, :-1].ravel(), taken[:, 1:].ravel())[0, 1]
        self.assertLess(abs(lag1), 5 / math.sqrt(taken[:, 1:].size), "neighbouring sessions correlated")


if __name__ == "__main__":
    unittest.main(verbosity=2)
