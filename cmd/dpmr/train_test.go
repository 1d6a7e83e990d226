package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/pipeline"
	"github.com/stretchr/testify/require"
)

func TestParseClassWeight(t *testing.T) {
	for in, want := range map[string][2]float64{
		"":              {},
		"1=5,0=1":       {1, 5},
		"+1=0.5":        {0, 0.5},
		" -1 = 2 , 1=3": {2, 3},
	} {
		got, err := parseClassWeight(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, msg := range map[string]string{
		"1":        `"1" is not CLASS=WEIGHT`,
		"2=1":      `class "2" is not 1, +1, 0 or -1`,
		"1=0":      `class 1's weight "0" is not a finite number > 0`,
		"0=-1":     `class 0's weight "-1" is not a finite number > 0`,
		"1=inf":    `class 1's weight "inf" is not a finite number > 0`,
		"1=x":      `class 1's weight "x" is not a finite number > 0`,
		"1=2,+1=3": `class +1 is given twice`,
	} {
		_, err := parseClassWeight(in)
		require.EqualError(t, err, msg, in)
	}
}

// TestTrainL1Flags: --l1 is refused before any work where no run could
// minimize it, and picks lbfgs (OWL-QN) when no optimizer is named.
func TestTrainL1Flags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--l1", "-1"}, "--l1 must be >= 0"},
		{[]string{"--l1", "1", "--optimizer", "subspace"}, "l1 needs optimizer lbfgs (OWL-QN), not subspace"},
		{[]string{"--l1", "1", "--optimizer", "gd"}, "l1 needs optimizer lbfgs (OWL-QN), not gd"},
		{[]string{"--l1", "NaN", "--optimizer", "lbfgs"}, "l1 NaN must be a finite number >= 0"},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		run := trainSetup(fs)
		require.NoError(t, fs.Parse(append([]string{"--input", "x", "--output", t.TempDir()}, tc.args...)))
		err := run()
		require.True(t, errors.Is(err, errUsage) && strings.Contains(err.Error(), tc.want), "%v: got %v, want usage error %q", tc.args, err, tc.want)
	}
}

// TestTrainMulticlassFlags: --multiclass picks lbfgs when no optimizer is
// named, refuses the optimizers and settings it cannot train with before
// any work, and trains wine into a model whose lines hold 3 weights.
func TestTrainMulticlassFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--multiclass", "--optimizer", "subspace"}, "multiclass needs optimizer lbfgs or gd, not subspace"},
		{[]string{"--multiclass", "--optimizer", "averaging"}, "multiclass needs optimizer lbfgs or gd, not averaging"},
		{[]string{"--multiclass", "--class-weight", "1=2"}, "class weights are for two classes"},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		run := trainSetup(fs)
		require.NoError(t, fs.Parse(append([]string{"--input", "x", "--output", t.TempDir()}, tc.args...)))
		err := run()
		require.True(t, errors.Is(err, errUsage) && strings.Contains(err.Error(), tc.want), "%v: got %v, want usage error %q", tc.args, err, tc.want)
	}

	out := filepath.Join(t.TempDir(), "wine")
	msg, err := exec.Command(dpmrBinary(t), "train", "--runner=direct", "--multiclass", "--input", filepath.Join("..", "..", "testdata", "real", "wine.txt"),
		"--output", out, "--iterations", "3", "--block-size", "50").CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "3 classes: [59 71 48] samples")
	info, err := pipeline.ReadModel(context.Background(), out)
	require.NoError(t, err)
	require.Equal(t, "lbfgs", info.Optimizer)
	require.Equal(t, 3, info.Classes)
	require.Equal(t, []int64{59, 71, 48}, info.ClassCounts)
	require.Len(t, info.Intercepts, 3)
	data, err := os.ReadFile(info.Files[0].Path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(data), "\n")
	require.Len(t, strings.Split(first, "\t"), 4, first)

	// dpmr weights shows each class's weight.
	msg, err = exec.Command(dpmrBinary(t), "weights", "--model", out, "--top", "2", "--feature", "(intercept)").Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
	require.Equal(t, "rank\tfeature\tclass\tweight", lines[0])
	require.Equal(t, "feature\tclass 0\tclass 1\tclass 2\tnote", lines[4])
	intercepts := strings.Split(lines[5], "\t")
	require.Equal(t, "(intercept)", intercepts[0])
	for k, b := range info.Intercepts {
		require.Equal(t, strconv.FormatFloat(b, 'g', -1, 64), intercepts[1+k])
	}

	// predict writes each class's probability and the most probable
	// class; eval counts them.
	preds := filepath.Join(t.TempDir(), "preds")
	msg, err = exec.Command(dpmrBinary(t), "predict", "--runner=direct", "--model", out, "--input", filepath.Join("..", "..", "testdata", "real", "wine.txt"),
		"--output", preds).CombinedOutput()
	require.NoError(t, err, "%s", msg)
	js, err := exec.Command(dpmrBinary(t), "eval", "--predictions", preds, "--json").Output()
	require.NoError(t, err)
	var rep multiclassReport
	require.NoError(t, json.Unmarshal(js, &rep))
	require.Equal(t, 3, rep.Classes)
	require.Equal(t, int64(178), rep.N)
	right := 0
	matches, err := filepath.Glob(filepath.Join(preds, "predictions-*"))
	require.NoError(t, err)
	for _, f := range matches {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			col := strings.Split(line, "\t")
			require.Len(t, col, 7, line)
			if col[2] == col[3] {
				right++
			}
		}
	}
	require.InDelta(t, float64(right)/178, rep.Accuracy, 1e-15)
}

func TestParseLambdas(t *testing.T) {
	got, err := parseLambdas("0.1, 1,10", "", true)
	require.NoError(t, err)
	require.Equal(t, []float64{0.1, 1, 10}, got)
	got, err = parseLambdas("1", "4,0.5", false)
	require.NoError(t, err)
	require.Equal(t, []float64{0.25, 2}, got)
	for _, tc := range []struct {
		lambda, c string
		given     bool
		want      string
	}{
		{"1,-1", "", true, "--lambda must be >= 0, got -1"},
		{"1,x", "", true, `--lambda: "x" is not a finite number`},
		{"1,Inf", "", true, `--lambda: "Inf" is not a finite number`},
		{"0.5,1,0.50", "", true, "--lambda lists 0.50 twice"},
		{",", "", true, "--lambda is empty"},
		{"1", "2", true, "give --lambda or --C, not both"},
		{"1", "0", false, "--C must be > 0, got 0"},
		{"1", "1,2,1", false, "--C lists 1 twice"},
	} {
		_, err := parseLambdas(tc.lambda, tc.c, tc.given)
		require.EqualError(t, err, tc.want, "%+v", tc)
	}
}

// TestTrainSeveralLambdas runs the real dpmr with --C listing two values
// and a test set: a model per value, each line naming its directory, and
// lambdas.csv giving each model's exported iteration and test metrics as
// its model.json has them.
func TestTrainSeveralLambdas(t *testing.T) {
	dir := t.TempDir()
	bin := dpmrBinary(t)
	data, err := filepath.Abs("../../testdata/synth/train.txt")
	require.NoError(t, err)
	test, err := filepath.Abs("../../testdata/synth/test.txt")
	require.NoError(t, err)
	out := filepath.Join(dir, "model")
	cmd := exec.Command(bin, "train", "--runner=direct", "--input", data, "--test", test, "--output", out,
		"--C", "1,0.1", "--early-stop", "logloss", "--iterations", "12")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	stdout, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stdout)
	require.Contains(t, string(stdout), "lambda=10: iter   1 ")
	require.Contains(t, string(stdout), "model: "+out+"/lambda=1 (")
	require.Contains(t, string(stdout), "model: "+out+"/lambda=10 (")
	require.Contains(t, string(stdout), "models compared: "+out+"/lambdas.csv")

	f, err := os.Open(filepath.Join(out, "lambdas.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3)
	for i, lambda := range []float64{1, 10} {
		m, err := pipeline.ReadModel(context.Background(), filepath.Join(out, "lambda="+rows[1+i][0]))
		require.NoError(t, err)
		require.Equal(t, lambda, m.Lambda)
		require.NotNil(t, m.EarlyStop)
		require.Equal(t, strconv.Itoa(m.EarlyStop.Pass), rows[1+i][4], "exported iteration")
		logLoss, err := strconv.ParseFloat(rows[1+i][8], 64)
		require.NoError(t, err)
		require.Equal(t, m.EarlyStop.Value, logLoss, "the exported iteration's test log-loss")
	}
}
