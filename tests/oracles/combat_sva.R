#!/usr/bin/env Rscript
# Oracle for radiomix.harmonize.ComBat: runs Bioconductor sva::ComBat on a small simulated multi-site table.
#
#   Rscript tests/oracles/combat_sva.R <outdir>
#
# Writes <outdir>/sva_input_<data>.csv (samples x columns: site, age, sex, grade, f01..f30) and
# <outdir>/sva_<config>.csv (the harmonized f01..f30, samples x features), all numbers with 17 significant
# digits. tests/fixtures/combat/ holds the output of this script (sva 3.46.0, R 4.x); test_harmonize.py
# compares radiomix against those files and, when Rscript with sva is installed, re-runs this script.
suppressPackageStartupMessages(library(sva))

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "."
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

write17 <- function(df, path) {
  df[] <- lapply(df, function(x) if (is.numeric(x)) sprintf("%.17g", x) else as.character(x))
  write.csv(df, path, row.names = FALSE, quote = FALSE, na = "NA")
}

# ---- simulated data: 4 sites, additive + multiplicative site effects, 3 covariates ----
set.seed(20240503)
n_per <- c(A = 20, B = 15, C = 15, D = 10)
n <- sum(n_per)
n_feat <- 30
site <- rep(names(n_per), n_per)
age <- round(runif(n, 35, 80), 1)
sex <- sample(c("F", "M"), n, replace = TRUE)
grade <- sample(c("g1", "g2", "g3"), n, replace = TRUE)
feat <- matrix(rnorm(n * n_feat), n, n_feat)
feat <- feat + outer(age - 55, rnorm(n_feat, 0, 0.03)) + outer(sex == "M", rnorm(n_feat, 0, 0.8)) +
  outer(grade == "g3", rnorm(n_feat, 0, 0.5))
shift <- matrix(rnorm(4 * n_feat, 0, 1.5), 4, n_feat)
scale <- matrix(exp(rnorm(4 * n_feat, 0, 0.4)), 4, n_feat)
site_idx <- match(site, names(n_per))
feat <- feat * scale[site_idx, ] + shift[site_idx, ] + 10
colnames(feat) <- sprintf("f%02d", seq_len(n_feat))
base <- data.frame(site = site, age = age, sex = sex, grade = grade, feat, check.names = FALSE)

data_sets <- list(base = base)
# A feature constant within one site (sva leaves it unadjusted everywhere).
const <- base; const$f01[const$site == "C"] <- 2.5; data_sets$const <- const
# A site with a single sample (sva switches to mean.only).
single <- rbind(base, base[1, ]); single$site[n + 1] <- "E"; single$f02[n + 1] <- single$f02[n + 1] + 3
data_sets$single <- single
# About 5 % missing feature values.
na <- base; miss <- matrix(runif(n * n_feat) < 0.05, n, n_feat); m <- as.matrix(na[, 5:(4 + n_feat)])
m[miss] <- NA; na[, 5:(4 + n_feat)] <- m; data_sets$na <- na

for (nm in names(data_sets)) write17(data_sets[[nm]], file.path(outdir, sprintf("sva_input_%s.csv", nm)))

# ---- ComBat runs: name -> data set, covariates, par.prior, mean.only, ref.batch ----
configs <- list(
  par_unadj = list("base", FALSE, TRUE, FALSE, NULL),
  par_adj = list("base", TRUE, TRUE, FALSE, NULL),
  nonpar_unadj = list("base", FALSE, FALSE, FALSE, NULL),
  nonpar_adj = list("base", TRUE, FALSE, FALSE, NULL),
  par_adj_meanonly = list("base", TRUE, TRUE, TRUE, NULL),
  nonpar_adj_meanonly = list("base", TRUE, FALSE, TRUE, NULL),
  par_adj_ref = list("base", TRUE, TRUE, FALSE, "B"),
  nonpar_adj_ref = list("base", TRUE, FALSE, FALSE, "B"),
  par_adj_meanonly_ref = list("base", TRUE, TRUE, TRUE, "B"),
  par_adj_const = list("const", TRUE, TRUE, FALSE, NULL),
  nonpar_adj_const = list("const", TRUE, FALSE, FALSE, NULL),
  par_adj_single = list("single", TRUE, TRUE, FALSE, NULL),
  par_adj_na = list("na", TRUE, TRUE, FALSE, NULL),
  nonpar_adj_na = list("na", TRUE, FALSE, FALSE, NULL),
  par_unadj_na = list("na", FALSE, TRUE, FALSE, NULL)
)
for (nm in names(configs)) {
  cfg <- configs[[nm]]
  d <- data_sets[[cfg[[1]]]]
  fcols <- grep("^f[0-9]+$", names(d))
  mod <- if (cfg[[2]]) model.matrix(~ age + factor(sex) + factor(grade), data = d) else NULL
  out <- suppressMessages(capture.output(
    res <- ComBat(dat = t(as.matrix(d[, fcols])), batch = d$site, mod = mod, par.prior = cfg[[3]],
                  mean.only = cfg[[4]], ref.batch = cfg[[5]])
  ))
  write17(as.data.frame(t(res)), file.path(outdir, sprintf("sva_%s.csv", nm)))
}
writeLines(c(sprintf("sva %s", as.character(packageVersion("sva"))), R.version.string),
           file.path(outdir, "sva_versions.txt"))
