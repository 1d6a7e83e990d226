package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register(command{name: "train", summary: "train a logistic regression model with DPMR on a Beam runner", setup: trainSetup})
}

func trainSetup(fs *flag.FlagSet) func() error {
	input := fs.String("input", "", "training data: a `GLOB` of files, or several separated by commas (required)")
	output := fs.String("output", "", "model `DIR` to write: weights-*, model.json, history.csv, history.svg (required)")
	test := fs.String("test", "", "test set `GLOB`(s), scored after every iteration; the metrics go to model.json, history.csv and history.svg")
	workdir := fs.String("workdir", "", "`DIR` for snapshots, on any Beam file system (default OUTPUT.work)")
	lambdaList := fs.String("lambda", "1", "L2 regularization strength; the objective is LIBLINEAR's -s 0 with C = 1/lambda.\n"+
		"Several, comma-separated (0.1,1,10), train one model each in the same passes, into OUTPUT/lambda=VALUE/")
	cList := fs.String("C", "", "LIBLINEAR's cost C, or several comma-separated; sets --lambda to 1/C")
	l1 := fs.Float64("l1", 0, "L1 regularization strength, beside --lambda's L2 (elastic net); zero weights are left out of the model.\n--l1 1 --lambda 0 is LIBLINEAR's -s 6 with C = 1. Trains with lbfgs as OWL-QN")
	classWeight := fs.String("class-weight", "", "multiply the weight of each sample of a class, as LIBLINEAR's -wi: `CLASS=W,...` (1=5,0=1)")
	multiclass := fs.Bool("multiclass", false, "multinomial (softmax) regression over labels 0..K-1: one weight per class and feature,\n"+
		"J = sum of -log p(y_i) + lambda/2 |w|^2, as scikit-learn's LogisticRegression(C=1/lambda); trains with lbfgs")
	bias := fs.Bool("bias", true, "fit an intercept (a feature of value 1 in every sample, not regularized)")
	optimizer := fs.String("optimizer", model.Methods[0].Name(), model.MethodHelp())
	iterations := fs.Int("iterations", 100, "maximum number of iterations (one pass over the data each, after a first evaluation)")
	tol := fs.Float64("tol", 0, "stop when J's relative decrease over an iteration is below this\n(0: 1e-7 for gd and averaging, off for subspace and lbfgs, which stop by --gap; negative: off)")
	gtol := fs.Float64("gtol", 1e-5, "stop when |g| <= gtol*|g0| (negative: off)")
	gap := fs.Float64("gap", 1e-6, "stop when J's estimated relative gap to the optimum, (J-J*)/J*, is at most this (subspace and lbfgs without --l1; negative: off)")
	lr := fs.Float64("learning-rate", 0, "gd's step, and averaging's local SGD step (0: gd uses a safe 1/L bound, averaging 0.1)")
	memory := fs.Int("memory", 0, "steps kept in each parameter row: subspace's past steps (0: 20) or L-BFGS's pairs (0: 10)")
	blockSize := fs.Int("block-size", 16384, "input lines per sample block; 1 is the paper's per-sample flow")
	shardThreshold := fs.Int64("shard-threshold", -1, "postings above which a feature is sharded (0: never; -1: max(10000, nonzeros/1024))")
	shards := fs.Int("shards", 8, "files per snapshot dataset and in the model; the index's blocks get one more\nper 16 MiB of input (on a cluster, use at least the workers)")
	partitions := fs.Int("partitions", 0, "parameter partitions, the keys of the parameter side's shuffles\n(0: max(256, input size / 64 MiB))")
	resume := fs.Bool("resume", false, "continue the run in --workdir from its last complete snapshot")
	warm := fs.String("warm-start", "", "model `DIR` whose weights to start from")
	retries := fs.Int("retries", 2, "rerun a pass (or the export) whose job failed up to `N` times, from its snapshot, waiting 2s, 4s, ... between")
	passTimeout := fs.Duration("pass-timeout", 0, "fail, and so retry, a pass whose job has not finished after this `duration` (0: no limit); prism waits forever for a killed PROCESS worker")
	earlyStop := fs.String("early-stop", "", "with --test, export the iteration whose weights score best on the test set by this `METRIC`, not the last:\n"+model.EarlyStopHelp())
	patience := fs.Int("patience", 5, "with --early-stop, end training after `N` iterations in a row that do not better the best test metric (0: train to the usual stop rules)")
	splitBytes := fs.Int64("split-bytes", 0, "read a plain local input file larger than `N` bytes in pieces of about N, each by a worker of its own\n(0: 64 MiB; -1: every file by one worker); the blocks and line numbers are the same either way")
	maxBad := fs.Int64("max-bad-lines", 0, "skip up to `N` malformed input lines (listed in WORKDIR/rejects.txt) instead of stopping")
	return func() error {
		if *input == "" || *output == "" {
			return usageError("--input and --output are required")
		}
		lambdas, err := parseLambdas(*lambdaList, *cList, flagSet(fs, "lambda"))
		if err != nil {
			return usageError("%v", err)
		}
		if *l1 < 0 {
			return usageError("--l1 must be >= 0")
		}
		if (*l1 > 0 || *multiclass) && !flagSet(fs, "optimizer") {
			*optimizer = model.LBFGS
		}
		if *shards < 1 {
			return usageError("--shards must be >= 1")
		}
		if *maxBad < 0 {
			return usageError("--max-bad-lines must be >= 0, got %d", *maxBad)
		}
		if *retries < 0 {
			return usageError("--retries must be >= 0, got %d", *retries)
		}
		if *passTimeout < 0 {
			return usageError("--pass-timeout must be >= 0, got %v", *passTimeout)
		}
		if *partitions < 0 || *partitions > 1<<20 {
			return usageError("--partitions must be between 0 (derived) and 1048576")
		}
		early := model.EarlyStop{Metric: *earlyStop, Patience: *patience}
		if err := early.Validate(); err != nil {
			return usageError("--early-stop/--patience: %v", err)
		}
		if early.Enabled() && *test == "" {
			return usageError("--early-stop needs a test set (--test)")
		}
		if *workdir == "" {
			*workdir = strings.TrimSuffix(*output, "/") + ".work"
		}
		if err := runners.Validate(); err != nil {
			return usageError("%v", err)
		}
		cw, err := parseClassWeight(*classWeight)
		if err != nil {
			return usageError("--class-weight: %v", err)
		}
		p := model.TrainParams{
			ClassWeight: cw, Lambda: lambdas[0], L1: *l1, Bias: *bias, Multiclass: *multiclass, Optimizer: *optimizer, LearningRate: *lr, Memory: *memory,
			BlockSize: *blockSize, Iterations: *iterations, Tol: *tol, GTol: *gtol, GapTol: *gap,
		}
		if *gtol == 0 {
			p.GTol = -1
		}
		if *gap == 0 {
			p.GapTol = -1
		}
		if err := p.WithDefaults().Validate(); err != nil {
			return usageError("%v", err)
		}
		var several []float64
		if len(lambdas) > 1 {
			several = lambdas
		}
		res, err := pipeline.Train(context.Background(), pipeline.TrainConfig{
			Inputs: splitList(*input), Tests: splitList(*test), WorkDir: *workdir, Output: *output, Train: p, Lambdas: several,
			Sharding: transforms.ShardingParams{Threshold: *shardThreshold}, Shards: *shards, Partitions: int32(*partitions),
			Resume: *resume, Warm: *warm, MaxBadLines: *maxBad, SplitBytes: *splitBytes, Retries: *retries, PassTimeout: *passTimeout, EarlyStop: early, Flags: setFlags(fs), Run: runners.Run, Log: os.Stdout,
		})
		if err != nil {
			return err
		}
		if res.Model != nil {
			printModel(*output, res.Model)
			return nil
		}
		for _, r := range res.Lambdas {
			printModel(r.Dir, r.Model)
		}
		fmt.Printf("models compared: %s\n", strings.TrimSuffix(*output, "/")+"/"+pipeline.LambdasName)
		return nil
	}
}

// printModel is train's last line for a model written to dir.
func printModel(dir string, m *pipeline.ModelInfo) {
	gapText := ""
	if m.Gap > 0 {
		gapText = fmt.Sprintf(", estimated gap to the optimum %.2g", m.Gap)
	}
	features := fmt.Sprint(m.Features, " features")
	if m.L1 > 0 {
		features = fmt.Sprintf("%d features, %d with nonzero weights", m.Features, m.Features-m.ZeroWeights)
	}
	if e := m.EarlyStop; e != nil {
		fmt.Printf("model: %s (%s; iteration %d of %d, the best test %s %.6g; J %.10g, |g| %.3g%s; stopped by %s)\n",
			dir, features, e.Pass, m.Iterations, e.Metric, e.Value, m.J, m.GradNorm, gapText, m.StopReason)
		return
	}
	fmt.Printf("model: %s (%s, J %.10g, |g| %.3g%s; stopped by %s after %d iterations)\n",
		dir, features, m.J, m.GradNorm, gapText, m.StopReason, m.Iterations)
}

// parseLambdas reads --lambda, or --C as 1/C, each a comma-separated list
// of distinct values.
func parseLambdas(lambdaList, cList string, lambdaGiven bool) ([]float64, error) {
	name, list := "--lambda", lambdaList
	if cList != "" {
		if lambdaGiven {
			return nil, fmt.Errorf("give --lambda or --C, not both")
		}
		name, list = "--C", cList
	}
	var out []float64
	seen := map[float64]bool{}
	for _, v := range splitList(list) {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%s: %q is not a finite number", name, v)
		}
		if name == "--C" {
			if !(x > 0) {
				return nil, fmt.Errorf("--C must be > 0, got %s", v)
			}
			x = 1 / x
		}
		if x < 0 {
			return nil, fmt.Errorf("--lambda must be >= 0, got %s", v)
		}
		if seen[x] {
			return nil, fmt.Errorf("%s lists %s twice", name, v)
		}
		seen[x] = true
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	return out, nil
}

// parseClassWeight parses CLASS=W pairs, a class written as in the data
// (1 or +1, 0 or -1), W a finite number > 0. A class not given weighs 1.
func parseClassWeight(s string) ([2]float64, error) {
	var cw [2]float64
	for _, pair := range splitList(s) {
		class, w, ok := strings.Cut(pair, "=")
		if !ok {
			return cw, fmt.Errorf("%q is not CLASS=WEIGHT", pair)
		}
		c := map[string]int{"1": 1, "+1": 1, "0": 0, "-1": 0}
		k, known := c[strings.TrimSpace(class)]
		if !known {
			return cw, fmt.Errorf("class %q is not 1, +1, 0 or -1", class)
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || !(x > 0) || math.IsInf(x, 0) {
			return cw, fmt.Errorf("class %s's weight %q is not a finite number > 0", class, w)
		}
		if cw[k] != 0 {
			return cw, fmt.Errorf("class %s is given twice", class)
		}
		cw[k] = x
	}
	return cw, nil
}

// splitList splits a comma-separated flag value, dropping empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// flagSet tells whether the user gave the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// setFlags records the flags the user gave, for model.json.
func setFlags(fs *flag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
	return m
}
