# Oracle for radiomix's survival metrics: R survival's Harrell C and Cox model on the tables written by
# tests/oracles/make_survival_inputs.py. Writes tests/fixtures/survival/r_<name>.json for each input.
# Usage (from the repository root): Rscript tests/oracles/survival_r.R [fixture_dir]
suppressMessages({
  library(survival)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/fixtures/survival"
grid_all <- fromJSON(file.path(dir, "grid.json"))

# Harrell's C with reverse = TRUE: a higher risk predicts a SHORTER time. concordance() counts
#   concordant / discordant / tied.x (tied risk, times comparable) / tied.y (tied time, both events) /
#   tied.xy; C = (concordant + tied.x / 2) / (concordant + discordant + tied.x). tied.y and tied.xy
#   pairs are not comparable. An event and a censored row at the same time are comparable (the censored
#   one is counted as still at risk at the event time, i.e. as having the longer time).
harrell <- function(d) {
  cf <- concordance(Surv(time, event) ~ risk, data = d, reverse = TRUE)
  cnt <- cf$count
  list(
    c_index = unname(cf$concordance),
    std_err = sqrt(unname(cf$var)),
    n = nrow(d),
    n_events = sum(d$event),
    concordant = unname(cnt["concordant"]),
    discordant = unname(cnt["discordant"]),
    tied_risk = unname(cnt["tied.x"]),
    tied_time = unname(cnt["tied.y"]),
    tied_both = unname(cnt["tied.xy"])
  )
}

# Step function value at t: the value at the largest time <= t (0 before the first time).
step_at <- function(times, values, t) {
  vapply(t, function(u) {
    k <- which(times <= u)
    if (length(k) == 0) 0 else values[max(k)]
  }, numeric(1))
}

cox <- function(d, xs, ties, grid) {
  f <- as.formula(paste("Surv(time, event) ~", paste(xs, collapse = " + ")))
  # Tighter than the default eps = 1e-9 (relative change of the log-likelihood); on these inputs the
  # coefficients are the same to all 15 printed digits either way (Newton-Raphson, 4 iterations).
  fit <- coxph(f, data = d, ties = ties, control = coxph.control(eps = 1e-11, iter.max = 100))
  out <- list(
    ties = ties,
    covariates = xs,
    n = fit$n,
    n_events = fit$nevent,
    coef = as.list(coef(fit)),
    se = as.list(sqrt(diag(fit$var)) |> setNames(xs)),
    loglik_null = fit$loglik[1],
    loglik = fit$loglik[2],
    iter = fit$iter
  )
  if (length(grid) > 0) {
    # basehaz(fit, centered = FALSE): cumulative baseline hazard at x = 0, as survfit.coxph's default
    # ctype (1 = Breslow/Nelson-Aalen-type for ties = "breslow", 2 = Efron-type for ties = "efron").
    bh <- basehaz(fit, centered = FALSE)
    out$basehaz_default <- step_at(bh$time, bh$hazard, grid)
    out$basehaz_default_ctype <- if (ties == "efron") 2L else 1L
    # Breslow estimator explicitly (ctype = 1): H0(t) = sum_{event times s <= t} d(s) / sum_{j: T_j >= s} exp(x_j b)
    nd <- as.data.frame(setNames(as.list(rep(0, length(xs))), xs))
    sf <- survfit(fit, newdata = nd, ctype = 1, se.fit = FALSE)
    out$basehaz_breslow <- step_at(sf$time, as.numeric(sf$cumhaz), grid)
    out$basehaz_times <- grid
  }
  out
}

# Univariate Cox score-test chi-square of each covariate (ties = "breslow"): radiomix's mRMR relevance for
# survival targets (rows with the covariate missing left out).
score_tests <- function(d, xs) {
  lapply(setNames(xs, xs), function(x) {
    f <- as.formula(paste("Surv(time, event) ~", x))
    unname(summary(coxph(f, data = d, ties = "breslow"))$sctest["test"])
  })
}

# Log-rank chi-square (survdiff, rho = 0) between the folds (5 groups) and between risk above/below its median.
logrank <- function(d) {
  d$high <- as.integer(d$risk > median(d$risk))
  list(folds = survdiff(Surv(time, event) ~ fold, data = d)$chisq,
       median_split = survdiff(Surv(time, event) ~ high, data = d)$chisq)
}

for (name in c("synthetic", "horng")) {
  path <- file.path(dir, paste0(name, ".csv"))
  d <- read.csv(path)
  grid <- if (!is.null(grid_all[[name]])) as.numeric(grid_all[[name]]$times) else numeric(0)
  if (length(grid) == 0) {
    # horng: the 25/50/75 % quantiles of event times (type 7, = numpy's default linear percentile)
    grid <- unname(quantile(d$time[d$event == 1], c(0.25, 0.5, 0.75), type = 7))
  }
  xs <- grep("^x[0-9]+$", names(d), value = TRUE)
  res <- list(
    input = basename(path),
    input_md5 = unname(tools::md5sum(path)),
    r_version = R.version.string,
    survival_version = as.character(packageVersion("survival")),
    harrell = harrell(d),
    harrell_by_fold = lapply(setNames(sort(unique(d$fold)), paste0("fold", sort(unique(d$fold)))),
                             function(k) harrell(d[d$fold == k, ])),
    cox_efron = cox(d, xs, "efron", grid),
    cox_breslow = cox(d, xs, "breslow", grid),
    score_test = score_tests(d, xs),
    logrank = logrank(d)
  )
  out <- file.path(dir, paste0("r_", name, ".json"))
  writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
  cat("wrote", out, "\n")
}
