#!/usr/bin/env Rscript
# mrgsolve as an independent oracle for ketasim's P1 model (tests/python/test_mrgsolve.py).
#
#   Rscript tests/data/mrgsolve/oracle.R sim.csv params.csv out.csv
#
# sim.csv     `tools/ketasim_export.py results.h5 --format nonmem` output, read as it is written
#             ("." = missing, as NONMEM reads it).
# params.csv  ID plus one column per PK parameter (CL, V1, Q2, V2, Q3, V3), the individual values
#             ketasim stored as pk_<name>.
# out.csv     one row per concentration record (DVID 1): ID, TIME, CP (mrgsolve, ng/mL), IPRED
#             (ketasim's value carried through mrgsolve).
#
# Fails (non-zero exit, message on stderr) when a column mrgsolve needs is missing or not
# numeric, or when the records are not sorted by ID and TIME.
suppressPackageStartupMessages(library(mrgsolve))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3) stop("usage: oracle.R sim.csv params.csv out.csv")

data <- read.csv(args[1], na.strings = ".", stringsAsFactors = FALSE)
need <- c("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "DVID", "MDV", "IPRED")
missing <- setdiff(need, names(data))
if (length(missing)) stop("the export lacks the columns: ", paste(missing, collapse = ", "))
not_numeric <- need[!vapply(data[need], is.numeric, logical(1))]
if (length(not_numeric)) stop("not numeric in the export: ", paste(not_numeric, collapse = ", "))
if (anyNA(data$ID) || anyNA(data$TIME) || anyNA(data$EVID) || anyNA(data$CMT))
  stop("ID, TIME, EVID or CMT has missing values")
if (is.unsorted(data$ID) || any(unlist(tapply(data$TIME, data$ID, is.unsorted))))
  stop("records are not sorted by ID, then TIME")
doses <- data[data$EVID == 1, ]
if (anyNA(doses$AMT) || anyNA(doses$RATE) || any(doses$AMT <= 0))
  stop("dose records without AMT or RATE")
# NONMEM reads "." in a data item as 0: AMT and RATE on observation records.
data$AMT[is.na(data$AMT)] <- 0
data$RATE[is.na(data$RATE)] <- 0

params <- read.csv(args[2])
data <- merge(data, params, by = "ID", sort = FALSE)
data <- data[order(data$ID, data$TIME, data$EVID), ]  # merge reorders; restore the export's order
# Observation records of the MADRS (DVID 2) carry no concentration: leave them out; the character
# column ARM is not a data item mrgsolve can use.
data <- data[data$EVID == 1 | (!is.na(data$DVID) & data$DVID == 1), setdiff(names(data), "ARM")]

code <- '
$PARAM CL = 1, V1 = 1, Q2 = 1, V2 = 1, Q3 = 1, V3 = 1
$CMT CENT P1 P2
$ODE
dxdt_CENT = -(CL + Q2 + Q3) / V1 * CENT + Q2 / V2 * P1 + Q3 / V3 * P2;
dxdt_P1 = Q2 / V1 * CENT - Q2 / V2 * P1;
dxdt_P2 = Q3 / V1 * CENT - Q3 / V3 * P2;
$TABLE double CP = CENT / V1 * 1000.0;  // mg / L -> ng/mL
$CAPTURE CP
'
mod <- mcode("ketasim_p1_oracle", code, quiet = TRUE)
out <- mrgsim(mod, data = data, carry_out = "DVID,IPRED", obsonly = TRUE,
              rtol = 1e-10, atol = 1e-12, maxsteps = 1e6)
out <- as.data.frame(out)
write.csv(out[, c("ID", "TIME", "CP", "IPRED")], args[3], row.names = FALSE)
