#!/usr/bin/env Rscript
# Workload P1 of ../shared/benchmarks/README.md in mrgsolve, the peer beside ketasim in run_p1.sh.
#
#   Rscript benchmarks/p1_mrgsolve.R POPULATION.csv N OUT.csv CACHE_DIR
#
# The first N rows of POPULATION.csv (ID, WT, ETA_CL, ETA_V1, ETA_V2; the shared
# p1_population_10000.csv); the P1 3-compartment model with allometry and the file's ETAs; 0.5 mg/kg
# over 40 min at 0, 14, ..., 70 days; CP = central / V1 x 1000 ng/mL every hour 0-2016 h (2017
# points) for every patient; LSODA rtol 1e-6 (as the shared README's mrgsolve figures), atol 1e-8;
# written to OUT.csv (ID, time, CP) with data.table::fwrite when installed, else write.csv.
# The model is compiled once into CACHE_DIR (mcode_cache) and loaded from there on later runs, so
# a timed run does not include the C++ compile. Phase times go to stderr.
suppressPackageStartupMessages(library(mrgsolve))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) stop("usage: p1_mrgsolve.R POPULATION.csv N OUT.csv CACHE_DIR")
n <- as.integer(args[2])
t0 <- proc.time()[["elapsed"]]

code <- '
$PARAM CL = 75, V1 = 20, Q2 = 174, V2 = 50, Q3 = 30, V3 = 150
$CMT CENT P1 P2
$ODE
dxdt_CENT = -(CL + Q2 + Q3) / V1 * CENT + Q2 / V2 * P1 + Q3 / V3 * P2;
dxdt_P1 = Q2 / V1 * CENT - Q2 / V2 * P1;
dxdt_P2 = Q3 / V1 * CENT - Q3 / V3 * P2;
$TABLE double CP = CENT / V1 * 1000.0;
$CAPTURE CP
'
dir.create(args[4], showWarnings = FALSE, recursive = TRUE)
mod <- mcode_cache("p1", code, soloc = args[4], quiet = TRUE)
t1 <- proc.time()[["elapsed"]]

pop <- read.csv(args[1])
if (nrow(pop) < n) stop("the population file has ", nrow(pop), " rows, fewer than N = ", n)
pop <- pop[seq_len(n), ]
s <- pop$WT / 70
data <- data.frame(
  ID = pop$ID, time = 0, evid = 1, cmt = 1, amt = 0.5 * pop$WT, ii = 336, addl = 5,
  CL = 75 * s^0.75 * exp(pop$ETA_CL), V1 = 20 * s * exp(pop$ETA_V1), Q2 = 174 * s^0.75,
  V2 = 50 * s * exp(pop$ETA_V2), Q3 = 30 * s^0.75, V3 = 150 * s)
data$rate <- data$amt / (40 / 60)
out <- mrgsim(mod, data = data, end = 2016, delta = 1, obsonly = TRUE, rtol = 1e-6, atol = 1e-8,
              maxsteps = 1e6, output = "df")
t2 <- proc.time()[["elapsed"]]

out <- out[, c("ID", "time", "CP")]
writer <- if (requireNamespace("data.table", quietly = TRUE)) "fwrite" else "write.csv"
if (writer == "fwrite") data.table::fwrite(out, args[3]) else write.csv(out, args[3], row.names = FALSE)
t3 <- proc.time()[["elapsed"]]
if (nrow(out) != n * 2017) stop("expected ", n * 2017, " rows, got ", nrow(out))
message(sprintf("p1_mrgsolve.R: N %d, mrgsolve %s; load model %.2f s, simulate %.2f s, write (%s) %.2f s",
                n, as.character(packageVersion("mrgsolve")), t1 - t0, t2 - t1, writer, t3 - t2))
