package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
)

// runGenArgs runs dpmr gen with args and --output in a temporary dir, and
// returns what it wrote.
func runGenArgs(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "data.txt")
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	run := genSetup(fs)
	if err := fs.Parse(append(args, "--output", out)); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b, nil
}

func synthBytes(t *testing.T, p model.SynthParams) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := model.Synthesize(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGenKinds checks what the flags mean for each kind: zipf's output is
// still the shipped quick-start data (testdata/README.md has its command),
// and text takes its own defaults for the flags left unset.
func TestGenKinds(t *testing.T) {
	got, err := runGenArgs(t, "--samples", "7000", "--features", "2000", "--per-sample", "15", "--seed", "11")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, f := range []string{"train.txt", "test.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "synth", f))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
	}
	if !bytes.Equal(got, want) {
		t.Error("dpmr gen no longer writes testdata/synth's data")
	}

	for _, tc := range []struct {
		args []string
		want model.SynthParams
	}{
		{[]string{"--kind", "text", "--samples", "300", "--seed", "3"},
			model.SynthParams{Kind: model.SynthText, Samples: 300, Seed: 3, Noise: 0.05}},
		{[]string{"--kind", "text", "--samples", "200", "--features", "5000", "--per-sample", "40", "--zipf", "1.2", "--topics", "8", "--noise", "0", "--positive", "0.3"},
			model.SynthParams{Kind: model.SynthText, Samples: 200, Features: 5000, PerSample: 40, Zipf: 1.2, Topics: 8, Positive: 0.3, Seed: 1}},
	} {
		got, err := runGenArgs(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if !bytes.Equal(got, synthBytes(t, tc.want)) {
			t.Errorf("%v: output differs from %+v", tc.args, tc.want)
		}
		if !bytes.Contains(got, []byte(" w")) {
			t.Errorf("%v: no words in %.80q", tc.args, got)
		}
	}
}

func TestGenFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "bogus"}, `--kind: unknown kind "bogus"`},
		{[]string{"--topics", "5"}, "--topics needs --kind text"},
		{[]string{"--kind", "text", "--topics", "0"}, "--topics must not be 0"},
		{[]string{"--kind", "text", "--topics", "-2"}, "--topics must be >= 1"},
		{[]string{"--kind", "text", "--features", "3000000000"}, "--features must be at most 2^31"},
	} {
		_, err := runGenArgs(t, tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want usage error %q", tc.args, err, tc.want)
		}
	}
}
