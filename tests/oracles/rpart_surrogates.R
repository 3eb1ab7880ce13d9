# Oracle for radiomix.impute._cart: fit R's rpart on the tables written by make_rpart_inputs.py and write the
# fitted tree (frame, splits, csplit), the node every training row lands in, and predictions for the
# training table and for a second table with heavier missingness.
#
#   Rscript tests/oracles/rpart_surrogates.R [in_dir] [out_dir]     (both default tests/fixtures/rpart)
#
# Needs only base R and the recommended package rpart. Numbers are written with 17 significant digits
# so that Python compares cut points exactly.
suppressPackageStartupMessages(library(rpart))

args <- commandArgs(trailingOnly = TRUE)
in_dir <- if (length(args) >= 1) args[1] else "tests/fixtures/rpart"
out_dir <- if (length(args) >= 2) args[2] else in_dir
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

read_set <- function(name, target, drop) {
  # Empty cells are missing values, in text columns too (read.csv would make "" a factor level).
  train <- read.csv(file.path(in_dir, paste0(name, "_train.csv")), stringsAsFactors = TRUE,
                    na.strings = c("NA", ""))
  test <- read.csv(file.path(in_dir, paste0(name, "_test.csv")), stringsAsFactors = TRUE,
                   na.strings = c("NA", ""))
  train <- train[, setdiff(names(train), drop), drop = FALSE]
  for (v in names(test)) {
    if (is.factor(train[[v]])) test[[v]] <- factor(as.character(test[[v]]), levels = levels(train[[v]]))
  }
  names(train)[names(train) == target] <- "target"
  list(train = train, test = test)
}

cases <- list(
  list(name = "diabetes_anova_d4", data = "diabetes", target = "y", drop = character(), method = "anova",
       control = rpart.control(maxdepth = 4, cp = 0, xval = 0, maxcompete = 0)),
  list(name = "diabetes_anova_cp", data = "diabetes", target = "y", drop = character(), method = "anova",
       control = rpart.control(cp = 0.01, xval = 0, maxcompete = 0)),
  list(name = "breast_gini_d4", data = "breast", target = "y", drop = character(), method = "class",
       control = rpart.control(maxdepth = 4, cp = 0, xval = 0, maxcompete = 0)),
  list(name = "breast_gini_sur1", data = "breast", target = "y", drop = character(), method = "class",
       control = rpart.control(cp = 0.01, xval = 0, maxcompete = 0, maxsurrogate = 3, usesurrogate = 1,
                               minsplit = 30, minbucket = 5)),
  list(name = "mixed_anova_d4", data = "mixed", target = "y", drop = "y3", method = "anova",
       control = rpart.control(maxdepth = 4, cp = 0, xval = 0, maxcompete = 0)),
  list(name = "mixed_class3_sur0", data = "mixed", target = "y3", drop = "y", method = "class",
       control = rpart.control(maxdepth = 5, cp = 0, xval = 0, maxcompete = 0, usesurrogate = 0,
                               minsplit = 12, minbucket = 4))
)

for (cs in cases) {
  d <- read_set(cs$data, cs$target, cs$drop)
  fit <- rpart(target ~ ., data = d$train, method = cs$method, control = cs$control)
  fr <- fit$frame
  nodes <- as.integer(rownames(fr))
  yval <- if (cs$method == "class") fr$yval else fr$yval
  frame <- data.frame(node = nodes, var = as.character(fr$var), n = fr$n, dev = num(fr$dev),
                      yval = num(yval), complexity = num(fr$complexity), ncompete = fr$ncompete,
                      nsurrogate = fr$nsurrogate)
  write.csv(frame, file.path(out_dir, paste0(cs$name, "_frame.csv")), row.names = FALSE, quote = TRUE)

  # One row per split, tagged with its node and whether it is the primary split or a surrogate.
  sp <- fit$splits
  rows <- list()
  if (!is.null(sp)) {
    k <- 1
    for (i in seq_len(nrow(fr))) {
      if (fr$var[i] == "<leaf>") next
      nrow_node <- 1 + fr$ncompete[i] + fr$nsurrogate[i]
      kinds <- c("primary", rep("competitor", fr$ncompete[i]), rep("surrogate", fr$nsurrogate[i]))
      for (r in seq_len(nrow_node)) {
        rows[[length(rows) + 1]] <- data.frame(node = nodes[i], kind = kinds[r], var = rownames(sp)[k],
                                               count = sp[k, "count"], ncat = sp[k, "ncat"],
                                               improve = num(sp[k, "improve"]), index = num(sp[k, "index"]),
                                               adj = num(sp[k, "adj"]))
        k <- k + 1
      }
    }
  }
  splits <- if (length(rows)) do.call(rbind, rows) else
    data.frame(node = integer(), kind = character(), var = character(), count = integer(), ncat = integer(),
               improve = character(), index = character(), adj = character())
  write.csv(splits, file.path(out_dir, paste0(cs$name, "_splits.csv")), row.names = FALSE)
  # csplit: one row per categorical split; 1 = left, 3 = right, 2 = level absent from the node.
  if (!is.null(fit$csplit)) {
    write.csv(as.data.frame(fit$csplit), file.path(out_dir, paste0(cs$name, "_csplit.csv")), row.names = FALSE)
  }

  # The node each test row reaches, computed the way predict.rpart does it.
  mf_test <- model.frame(delete.response(fit$terms), d$test, na.action = na.pass,
                         xlev = attr(fit, "xlevels"))
  where_test <- nodes[rpart:::pred.rpart(fit, rpart:::rpart.matrix(mf_test))]
  out <- data.frame(table = c(rep("train", nrow(d$train)), rep("test", nrow(d$test))),
                    row = c(seq_len(nrow(d$train)), seq_len(nrow(d$test))) - 1L,
                    node = c(nodes[fit$where], where_test))
  if (cs$method == "class") {
    p_tr <- predict(fit, d$train, type = "prob")
    p_te <- predict(fit, d$test, type = "prob")
    prob <- rbind(p_tr, p_te)
    for (lv in colnames(prob)) out[[paste0("prob_", lv)]] <- num(prob[, lv])
    out$pred <- c(as.character(predict(fit, d$train, type = "class")),
                  as.character(predict(fit, d$test, type = "class")))
  } else {
    out$pred <- num(c(predict(fit, d$train), predict(fit, d$test)))
  }
  write.csv(out, file.path(out_dir, paste0(cs$name, "_pred.csv")), row.names = FALSE)
  cat(sprintf("%s: %d nodes, %d splits\n", cs$name, nrow(fr), if (is.null(sp)) 0L else nrow(sp)))
}
