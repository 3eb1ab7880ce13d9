# Oracle for radiomix.safeguards.delong_test: R pROC's roc.test(method = "delong") on paired predictions.
# Usage: Rscript tests/oracles/delong_proc.R tests/fixtures/proc/delong_input.csv tests/fixtures/proc/delong_proc.csv
suppressMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
out <- list()
for (case in unique(d$case)) {
  s <- d[d$case == case, ]
  r1 <- roc(s$y, s$p1, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(s$y, s$p2, levels = c(0, 1), direction = "<", quiet = TRUE)
  t <- roc.test(r1, r2, method = "delong", paired = TRUE)
  out[[length(out) + 1]] <- data.frame(case = case, auc1 = as.numeric(auc(r1)), auc2 = as.numeric(auc(r2)),
                                       z = unname(t$statistic), p_value = t$p.value)
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
