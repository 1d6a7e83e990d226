package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/runners/runnertest"
	"github.com/stretchr/testify/require"
)

// The test binary runs libraryProgram instead of its tests when
// libraryEnv is set: a program that uses this package as a library and,
// unlike the tests' TestMain, neither parses flags nor calls beam.Init nor
// quiets Beam's logs. Beam's state is per process, hence a process of its
// own.
const (
	libraryEnv         = "DPMR_TEST_LIBRARY_PROGRAM" // "quiet" or "verbose"
	libraryEndpointEnv = "DPMR_TEST_LIBRARY_ENDPOINT"
	libraryDirEnv      = "DPMR_TEST_LIBRARY_DIR"
)

// libraryProgram trains on testdata/good/libsvm.txt, first through the
// portable job API (whose runner panics when Beam is not initialized)
// unless verbose, predicts on the direct runner, and scores a line in
// memory, printing what each gives; verbose asks for Beam's INFO lines
// first. It returns the exit code.
func libraryProgram(mode string) int {
	ctx := context.Background()
	dir := os.Getenv(libraryDirEnv)
	data, err := filepath.Abs("../testdata/good/libsvm.txt")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var run Runner
	if mode == "verbose" {
		did, err := InitBeam("info")
		fmt.Println("initialized:", did, err)
	} else {
		run = universalRunner(os.Getenv(libraryEndpointEnv))
	}
	out := filepath.Join(dir, "model")
	res, err := Train(ctx, TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: out,
		Train: model.TrainParams{Lambda: 1, Bias: true, Iterations: 2}, Run: run})
	if err != nil {
		fmt.Println("train:", err)
		return 1
	}
	fmt.Println("features:", res.Model.Features)
	info, err := RunPredict(ctx, PredictConfig{Model: out, Inputs: []string{data}, Output: filepath.Join(dir, "pred"),
		WorkDir: filepath.Join(dir, "pred.work")})
	if err != nil {
		fmt.Println("predict:", err)
		return 1
	}
	fmt.Println("predictions:", info.Samples)
	m, err := LoadModel(ctx, out)
	if err != nil {
		fmt.Println("load:", err)
		return 1
	}
	var s model.Sample
	if _, err := model.ParseLineLabels(&s, "", 1, []byte("1:1 2:1"), model.LabelOptional); err != nil {
		fmt.Println("parse:", err)
		return 1
	}
	fmt.Printf("score: %.4f\n", m.Score(&s))
	return 0
}

// TestLibraryWithoutBeamInit runs libraryProgram in a process of its own:
// it must not panic for want of beam.Init, and Beam must write none of its
// INFO lines unless asked to.
func TestLibraryWithoutBeamInit(t *testing.T) {
	server, err := runnertest.SharedJobServer()
	require.NoError(t, err)
	run := func(mode string) (stdout, stderr string) {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), libraryEnv+"="+mode, libraryEndpointEnv+"="+server.Endpoint,
			libraryDirEnv+"="+t.TempDir(), "TMPDIR="+t.TempDir())
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		require.NoError(t, err, "%s program:\nstdout:\n%s\nstderr:\n%s", mode, o.String(), e.String())
		return o.String(), e.String()
	}

	stdout, stderr := run("quiet")
	require.Regexp(t, `^features: 7\npredictions: 30\nscore: 0\.\d{4}\n$`, stdout)
	require.Empty(t, stderr, "Beam wrote to stderr")

	stdout, stderr = run("verbose")
	require.True(t, strings.HasPrefix(stdout, "initialized: true <nil>\nfeatures: 7\n"), stdout)
	require.Contains(t, stderr, "level=INFO")
	require.Contains(t, stderr, "Executing pipeline with the direct runner")
}
