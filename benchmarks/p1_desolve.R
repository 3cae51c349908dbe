#!/usr/bin/env Rscript
# Workload P1 of ../shared/benchmarks/README.md in deSolve (Debian: r-cran-desolve), the second
# peer beside ketasim in run_p1.sh.
#
#   Rscript benchmarks/p1_desolve.R POPULATION.csv N OUT.csv CACHE_DIR [RTOL ATOL]
#
# The same individuals, model and output as benchmarks/p1_mrgsolve.R: the first N rows of
# POPULATION.csv (ID, WT, ETA_CL, ETA_V1, ETA_V2), the P1 3-compartment model with allometry and the
# file's ETAs, 0.5 mg/kg over 40 min at 0, 14, ..., 70 days, CP = central / V1 x 1000 ng/mL every
# hour 0-2016 h (2017 points) for every patient, LSODA rtol 1e-6, atol 1e-8, written to OUT.csv
# (ID, time, CP). The right-hand side is compiled C (deSolve's documented way for speed, as
# mrgsolve compiles its model): built once with R CMD SHLIB into CACHE_DIR and loaded from there.
# The infusion rate is a fourth state with zero derivative that events set at each infusion's
# start and end, so LSODA restarts exactly at every discontinuity. deSolve integrates one
# individual per ode() call; phase times go to stderr. RTOL and ATOL (default 1e-6, 1e-8, the
# benchmark's) are for tests/python/test_desolve.py, which checks this workload against ketasim's
# at tight tolerances.
suppressPackageStartupMessages(library(deSolve))
args <- commandArgs(trailingOnly = TRUE)
if (!(length(args) %in% c(4, 6))) stop("usage: p1_desolve.R POPULATION.csv N OUT.csv CACHE_DIR [RTOL ATOL]")
n <- as.integer(args[2])
rtol <- if (length(args) == 6) as.numeric(args[5]) else 1e-6
atol <- if (length(args) == 6) as.numeric(args[6]) else 1e-8
t0 <- proc.time()[["elapsed"]]

code <- '
#include <R.h>
static double parms[6];  /* CL, V1, Q2, V2, Q3, V3 (L/h, L) */
void p1_init(void (*odeparms)(int *, double *)) {
  int count = 6;
  odeparms(&count, parms);
}
/* y: CENT, P1, P2 (mg) and RATE (mg/h, set by events); yout: CP (ng/mL) */
void p1_derivs(int *neq, double *t, double *y, double *ydot, double *yout, int *ip) {
  const double CL = parms[0], V1 = parms[1], Q2 = parms[2], V2 = parms[3], Q3 = parms[4], V3 = parms[5];
  ydot[0] = y[3] - (CL + Q2 + Q3) / V1 * y[0] + Q2 / V2 * y[1] + Q3 / V3 * y[2];
  ydot[1] = Q2 / V1 * y[0] - Q2 / V2 * y[1];
  ydot[2] = Q3 / V1 * y[0] - Q3 / V3 * y[2];
  ydot[3] = 0.0;
  if (ip[0] > 0) yout[0] = y[0] / V1 * 1000.0;
}
'
dir.create(args[4], showWarnings = FALSE, recursive = TRUE)
source_file <- file.path(args[4], "p1_desolve.c")
library_file <- file.path(args[4], paste0("p1_desolve", .Platform$dynlib.ext))
if (!file.exists(library_file) || !file.exists(source_file) || readChar(source_file, 1e5) != code) {
  writeLines(code, source_file, sep = "")
  status <- system2(file.path(R.home("bin"), "R"), c("CMD", "SHLIB", "-o", shQuote(library_file), shQuote(source_file)),
                    stdout = FALSE, stderr = FALSE)
  if (status != 0) stop("R CMD SHLIB could not compile ", source_file)
}
dyn.load(library_file)
t1 <- proc.time()[["elapsed"]]

pop <- read.csv(args[1])
if (nrow(pop) < n) stop("the population file has ", nrow(pop), " rows, fewer than N = ", n)
pop <- pop[seq_len(n), ]
times <- 0:2016
dose_h <- 336 * (0:5)
infusion_h <- 40 / 60
cp <- matrix(0, nrow = length(times), ncol = n)
for (i in seq_len(n)) {
  s <- pop$WT[i] / 70
  parms <- c(75 * s^0.75 * exp(pop$ETA_CL[i]), 20 * s * exp(pop$ETA_V1[i]), 174 * s^0.75,
             50 * s * exp(pop$ETA_V2[i]), 30 * s^0.75, 150 * s)
  rate <- 0.5 * pop$WT[i] / infusion_h
  events <- data.frame(var = "RATE", time = c(dose_h, dose_h + infusion_h), value = rep(c(rate, 0), each = 6),
                       method = "rep")
  events <- events[order(events$time), ]
  # The event times join the output times (deSolve would add them anyway, with a warning each).
  out <- ode(y = c(CENT = 0, P1 = 0, P2 = 0, RATE = 0), times = sort(unique(c(times, events$time))), func = "p1_derivs", parms = parms, dllname = "p1_desolve",
             initfunc = "p1_init", nout = 1, outnames = "CP", events = list(data = events), method = "lsoda",
             rtol = rtol, atol = atol, maxsteps = 1e6)
  keep <- out[, "time"] %in% times  # the infusion ends, added to the output by deSolve, are not P1's
  cp[, i] <- out[keep, "CP"]
}
t2 <- proc.time()[["elapsed"]]

result <- data.frame(ID = rep(pop$ID, each = length(times)), time = rep(times, n), CP = as.vector(cp))
writer <- if (requireNamespace("data.table", quietly = TRUE)) "fwrite" else "write.csv"
if (writer == "fwrite") data.table::fwrite(result, args[3]) else write.csv(result, args[3], row.names = FALSE)
t3 <- proc.time()[["elapsed"]]
message(sprintf("p1_desolve.R: N %d, deSolve %s; load model %.2f s, simulate %.2f s, write (%s) %.2f s",
                n, as.character(packageVersion("deSolve")), t1 - t0, t2 - t1, writer, t3 - t2))
