package model

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// realOptima reads testdata/real/optimum.txt-style files: set -> J*.
func realOptima(t testing.TB, path string) map[string]float64 {
	t.Helper()
	return realColumn(t, path, 4)
}

// realColumn reads column col (from 0) of such a file: set -> value.
func realColumn(t testing.TB, path string, col int) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) <= col || strings.HasPrefix(fs[0], "#") {
			continue
		}
		v, err := strconv.ParseFloat(fs[col], 64)
		if err != nil {
			t.Fatal(err)
		}
		m[fs[0]] = v
	}
	return m
}

// passesTo runs the trainer for up to max passes and returns the first
// pass whose J is within rel of opt for each rel (-1: never).
func passesTo(tr *Trainer, opt float64, max int, rels ...float64) ([]int, []Figures) {
	out := make([]int, len(rels))
	for i := range out {
		out[i] = -1
	}
	var hist []Figures
	for n := 0; n <= max; n++ {
		f := tr.Pass()
		hist = append(hist, f)
		done := true
		for i, r := range rels {
			if out[i] < 0 && f.J <= opt*(1+r) {
				out[i] = f.Pass
			}
			done = done && out[i] >= 0
		}
		if done {
			break
		}
	}
	return out, hist
}

// TestMeasureReal measures passes to LIBLINEAR's optimum on the sets built
// by testdata/real/build.py in DPMR_REAL_DIR (skipped without it), with
// lambda = 1 and no intercept, and prints one RESULT line per set and
// optimizer. Optional settings: DPMR_REAL_SETS (default "names sotu
// sotu-bi"), DPMR_REAL_OPTS (optimizers, default lbfgs), DPMR_REAL_BLOCK
// (block size, default 300), DPMR_REAL_MAX (passes, default 150),
// DPMR_REAL_MEM (Memory, default the optimizer's), DPMR_REAL_TRACE (print
// the gap of every pass), DPMR_REAL_L1 (set: --l1 1 --lambda 0 against
// optimum-l1.txt, with the nonzero weights at the end).
func TestMeasureReal(t *testing.T) {
	dir := os.Getenv("DPMR_REAL_DIR")
	if dir == "" {
		t.Skip("DPMR_REAL_DIR not set")
	}
	optFile, lambda, l1 := "optimum.txt", 1.0, 0.0
	if os.Getenv("DPMR_REAL_L1") != "" {
		optFile, lambda, l1 = "optimum-l1.txt", 0, 1
	}
	opt := realOptima(t, filepath.Join(dir, optFile))
	sets := strings.Fields(os.Getenv("DPMR_REAL_SETS"))
	if len(sets) == 0 {
		sets = []string{"names", "sotu", "sotu-bi"}
	}
	opts := strings.Fields(os.Getenv("DPMR_REAL_OPTS"))
	if len(opts) == 0 {
		opts = []string{LBFGS}
	}
	bs := 300
	if s := os.Getenv("DPMR_REAL_BLOCK"); s != "" {
		bs, _ = strconv.Atoi(s)
	}
	max := 150
	if s := os.Getenv("DPMR_REAL_MAX"); s != "" {
		max, _ = strconv.Atoi(s)
	}
	mem := 0
	if s := os.Getenv("DPMR_REAL_MEM"); s != "" {
		mem, _ = strconv.Atoi(s)
	}
	for _, set := range sets {
		d, err := ReadDataset([]string{filepath.Join(dir, set+".txt")}, false, bs)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range opts {
			tr, err := NewTrainer(d, TrainParams{Lambda: lambda, L1: l1, Optimizer: o, Memory: mem, BlockSize: bs, Tol: -1, GTol: -1, GapTol: -1, Iterations: 1000}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, hist := passesTo(tr, opt[set], max, 1e-4, 1e-6)
			secs := 0.0
			for _, f := range hist {
				secs += f.Seconds
			}
			last := hist[len(hist)-1]
			fmt.Printf("RESULT %-8s %-10s samples %d features %d nnz %d blocks %d J* %.10g  1e-4: %d  1e-6: %d  final gap %.3g  s/pass %.3f  nonzero weights %d\n",
				set, o, d.Samples, len(d.Names), d.Nonzeros, len(d.Blocks), opt[set], got[0], got[1], last.J/opt[set]-1, secs/float64(len(hist)), last.Rows-last.Zeros)
			if os.Getenv("DPMR_REAL_TRACE") != "" {
				for _, f := range hist {
					fmt.Printf("  %3d gap %.3e step %.4g steep %v\n", f.Pass, f.J/opt[set]-1, f.Alpha, f.Steepest)
				}
			}
		}
	}
}
