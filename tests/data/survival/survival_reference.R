# The reference for tests/python/test_survival_r.py: R's survival package (Debian r-cran-survival)
# with its defaults (survfit conf.type = "log", coxph ties = "efron", survdiff rho = 0) on a
# "time event group" file, printed in the line format of tests/tools/survival_probe.cpp.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.table(args[1], col.names = c("time", "event", "group"))
num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
for (g in 0:1) {
  fit <- survfit(Surv(time, event) ~ 1, data = d[d$group == g, ])
  for (i in seq_along(fit$time)) {
    cat("km", g, num(c(fit$time[i], fit$n.risk[i], fit$n.event[i], fit$n.censor[i], fit$surv[i],
                        fit$lower[i], fit$upper[i])), "\n")
  }
  q <- quantile(fit, probs = 0.5)
  cat("median", g, num(c(q$quantile, q$lower, q$upper)), "\n")
}
fit <- coxph(Surv(time, event) ~ group, data = d)
ci <- exp(confint(fit))
cat("cox", num(c(coef(fit), sqrt(vcov(fit)[1, 1]), exp(coef(fit)), ci[1, 1], ci[1, 2])), "\n")
lr <- survdiff(Surv(time, event) ~ group, data = d)
cat("logrank", num(c(lr$chisq, pchisq(lr$chisq, 1, lower.tail = FALSE))), "\n")
