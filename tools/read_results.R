#!/usr/bin/env Rscript
# Read a ketasim results file (docs/results-format.md) from R and print per-arm response and
# remission rates, once through hdf5r and once through ncdf4, so that each reader doubles as an
# example and as a check of the other.
#
#   Rscript tools/read_results.R results.h5 [--reader hdf5r|ncdf4|both]
#
# Output: tab-separated, one line per reader x sweep point x arm, after a header line:
#   reader  point  arm  n  responders  response_pct  remitters  remission_pct  doses_taken  dropouts
#   remission_visits
# `point` is "-" without a sweep, else "dim=value,dim=value" in the file's dimension order.
# `n` counts patients whose status is 0 (ok); failed patients are excluded from numerator and
# denominator, while dropouts are whatever the file's flags say (the writer stores 0).
#
# Both readers return arrays in C order (the order written in the contract, e.g.
# remission(arm, patient)) with named dimnames, so the arithmetic below is written once.

suppressPackageStartupMessages({
  library(hdf5r)
  library(ncdf4)
})

# ---- hdf5r: axes come back reversed (R is column-major); names come from DIMENSION_LIST ----

# Names of the dimension scales attached to a dataset, in C order (DIMENSION_LIST is stored
# in C order: one object reference per axis).
h5_dim_names <- function(file, ds) {
  refs <- h5attr(ds, "DIMENSION_LIST")
  vapply(refs, function(r) {
    sub("^/", "", r$dereference(obj = file)[[1]]$get_obj_name())
  }, character(1))
}

h5_read_c_order <- function(file, name) {
  ds <- file[[name]]
  # drop = FALSE: a run with one arm or a one-point sweep must keep that axis.
  x <- ds$read(drop = FALSE)
  nd <- length(dim(x))
  if (nd > 1) x <- aperm(x, rev(seq_len(nd)))  # restore the C (row-major) axis order
  dims <- h5_dim_names(file, ds)
  dimnames(x) <- setNames(lapply(dims, function(d) as.character(file[[d]]$read())), dims)
  x
}

read_hdf5r <- function(path, names) {
  file <- H5File$new(path, mode = "r")
  on.exit(file$close_all())
  setNames(lapply(names, function(n) h5_read_c_order(file, n)), names)
}

# ---- ncdf4: dimensions are named; arrays are also returned fastest-axis first ----

nc_read_c_order <- function(nc, name) {
  v <- nc$var[[name]]
  # collapse_degen = FALSE for the same reason as drop = FALSE above.
  x <- ncvar_get(nc, name, collapse_degen = FALSE)
  dims <- vapply(v$dim, function(d) d$name, character(1))   # fastest-varying first
  dimnames(x) <- setNames(lapply(v$dim, function(d) as.character(d$vals)), dims)
  nd <- length(dims)
  if (nd > 1) x <- aperm(x, rev(seq_len(nd)))
  x
}

read_ncdf4 <- function(path, names) {
  nc <- nc_open(path)
  on.exit(nc_close(nc))
  setNames(lapply(names, function(n) nc_read_c_order(nc, n)), names)
}

# ---- rates: the same code for both readers ----

# Count patients (sum over the `patient` axis) per remaining cell: sweep point(s) x arm.
count_over_patients <- function(x) {
  keep <- setdiff(names(dimnames(x)), "patient")
  counts <- apply(x, keep, sum, na.rm = TRUE)
  # apply() over a single axis returns a plain named vector; put the axis name back.
  array(counts, dim = lengths(dimnames(x)[keep]), dimnames = dimnames(x)[keep])
}

# Sum over the named axes (e.g. patient and dose) per remaining cell.
count_over <- function(x, axes) {
  keep <- setdiff(names(dimnames(x)), axes)
  counts <- apply(x, keep, sum, na.rm = TRUE)
  array(counts, dim = lengths(dimnames(x)[keep]), dimnames = dimnames(x)[keep])
}

# The status mask broadcast over a trailing axis (visit, dose) of a per-patient variable.
ok_over <- function(ok, x) {
  extra <- setdiff(names(dimnames(x)), names(dimnames(ok)))
  if (length(extra) == 0) return(ok)
  n_extra <- prod(lengths(dimnames(x)[extra]))
  # x is in C order (extra axis last in the names): repeat the mask along it.
  array(rep(as.vector(ok), times = n_extra), dim = dim(x), dimnames = dimnames(x))
}

per_arm_rates <- function(v, reader) {
  ok <- v$status == 0
  n <- count_over_patients(ok * 1L)
  responders <- count_over_patients((v$response == 1) & ok)
  remitters <- count_over_patients((v$remission == 1) & ok)
  # Datasets of the issue-9 schema: sessions attended, patients who left, remissions over visits.
  taken <- count_over((v$dose_taken == 1) & ok_over(ok, v$dose_taken), c("patient", "dose"))
  dropouts <- count_over_patients(is.finite(v$dropout_time_d) & ok)
  remission_visits <- count_over((v$remission_by_visit == 1) & ok_over(ok, v$remission_by_visit), c("patient", "visit"))
  # Issue 11: events per patient and the Kaplan-Meier tables' event counts.
  events <- count_over((v$event_observed == 1) & ok_over(ok, v$event_observed), c("patient", "event_endpoint"))
  km_events <- count_over(v$km_events, c("event_endpoint", "event_time"))
  # as.data.frame.table turns a named array into one row per cell with one column per dim.
  df <- as.data.frame.table(n, responseName = "n", stringsAsFactors = FALSE)
  df$responders <- as.vector(responders)
  df$remitters <- as.vector(remitters)
  df$doses_taken <- as.vector(taken)
  df$dropouts <- as.vector(dropouts)
  df$remission_visits <- as.vector(remission_visits)
  df$events <- as.vector(events)
  df$km_events <- as.vector(km_events)
  sweep_dims <- setdiff(names(df), c("arm", "n", "responders", "remitters", "doses_taken", "dropouts", "remission_visits",
                                     "events", "km_events"))
  df$point <- if (length(sweep_dims) == 0) "-" else
    apply(df[sweep_dims], 1, function(r) paste0(sweep_dims, "=", trimws(r), collapse = ","))
  df$reader <- reader
  df$response_pct <- sprintf("%.6f", 100 * df$responders / df$n)
  df$remission_pct <- sprintf("%.6f", 100 * df$remitters / df$n)
  df[c("reader", "point", "arm", "n", "responders", "response_pct", "remitters", "remission_pct", "doses_taken",
       "dropouts", "remission_visits", "events", "km_events")]
}

main <- function(args) {
  usage <- "usage: Rscript tools/read_results.R results.h5 [--reader hdf5r|ncdf4|both]"
  if (length(args) < 1 || args[1] %in% c("-h", "--help")) {
    cat(usage, "\n")
    quit(status = if (length(args) < 1) 1 else 0)
  }
  path <- args[1]
  reader <- "both"
  if (length(args) >= 3 && args[2] == "--reader") reader <- args[3]
  if (!file.exists(path)) stop("no such file: ", path)
  vars <- c("status", "response", "remission", "dose_taken", "dropout_time_d", "remission_by_visit", "event_observed",
            "km_events")

  out <- list()
  if (reader %in% c("hdf5r", "both")) out$hdf5r <- per_arm_rates(read_hdf5r(path, vars), "hdf5r")
  if (reader %in% c("ncdf4", "both")) out$ncdf4 <- per_arm_rates(read_ncdf4(path, vars), "ncdf4")
  if (length(out) == 0) stop(usage)
  table <- do.call(rbind, out)
  write.table(table, stdout(), sep = "\t", quote = FALSE, row.names = FALSE)
}

main(commandArgs(trailingOnly = TRUE))
