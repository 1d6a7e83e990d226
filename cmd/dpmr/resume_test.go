package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKilledTrainingResumesToTheSameModel kills the real dpmr process with
// SIGKILL while it is in the middle of a pass, resumes it, and requires the
// same weights files, byte for byte, as a run never interrupted.
func TestKilledTrainingResumesToTheSameModel(t *testing.T) {
	dir := t.TempDir()
	bin := dpmrBinary(t)

	data, err := filepath.Abs("../../testdata/synth/train.txt")
	require.NoError(t, err)
	args := func(out string) []string {
		return []string{"train", "--runner=direct", "--input", data, "--output", out, "--workdir", out + ".work",
			"--iterations", "8", "--tol", "-1", "--gtol", "-1", "--gap", "-1", "--block-size", "500", "--shards", "3"}
	}
	whole := filepath.Join(dir, "whole")
	out, err := exec.Command(bin, args(whole)...).CombinedOutput()
	require.NoError(t, err, "%s", out)

	cut := filepath.Join(dir, "cut")
	cmd := exec.Command(bin, args(cut)...)
	// A killed dpmr cannot remove its temp dir; give it one the test owns.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	require.NoError(t, cmd.Start())
	// Kill it once pass 4 has started writing, before its manifest.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(cut+".work", "pass-00004")); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "pass 4 never started")
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	require.Error(t, err, "the run must have been killed, not finished")
	_, statErr := os.Stat(filepath.Join(cut, "model.json"))
	require.True(t, os.IsNotExist(statErr), "a killed run leaves no model")

	out, err = exec.Command(bin, append(args(cut), "--resume")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "resuming after pass")

	files, err := filepath.Glob(filepath.Join(whole, "weights-*"))
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, f := range files {
		a, err := os.ReadFile(f)
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(cut, filepath.Base(f)))
		require.NoError(t, err)
		require.True(t, bytes.Equal(a, b), "%s differs after resume", filepath.Base(f))
	}
}
