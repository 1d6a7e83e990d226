package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpmr/dpmr/model"
	"github.com/dpmr/dpmr/transforms"
	"github.com/stretchr/testify/require"
)

// TestModelScoresAsPredict loads a trained model into memory and requires
// its margin of every sample of testdata/synth/test.txt (most of whose
// features the model never saw) to be dpmr predict's, bit for bit, with
// hot features sharded and not.
func TestModelScoresAsPredict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	train, err := filepath.Abs("../testdata/synth/train.txt")
	require.NoError(t, err)
	test, err := filepath.Abs("../testdata/synth/test.txt")
	require.NoError(t, err)
	out := filepath.Join(dir, "model")
	_, err = Train(ctx, TrainConfig{Inputs: []string{train}, WorkDir: filepath.Join(dir, "work"), Output: out,
		Train: model.TrainParams{Lambda: 1, Bias: true, BlockSize: 300, Iterations: 3}, Shards: 3, Run: runnerFor("direct")})
	require.NoError(t, err)
	m, err := LoadModel(ctx, out)
	require.NoError(t, err)
	require.EqualValues(t, m.Info.Features, m.Len())
	b, ok := m.Weight(model.BiasName)
	require.True(t, ok)
	require.Equal(t, m.Info.Intercept, b)

	for _, shard := range []int64{0, 40} {
		pred := filepath.Join(dir, fmt.Sprintf("pred-%d", shard))
		info, err := RunPredict(ctx, PredictConfig{Model: out, Inputs: []string{test}, Output: pred, WorkDir: pred + ".work",
			Sharding: transforms.ShardingParams{Threshold: shard}, Shards: 2, Run: runnerFor("direct")})
		require.NoError(t, err)
		rows := readPredictionRows(t, info)
		f, err := os.Open(test)
		require.NoError(t, err)
		r := model.NewReader(f, test)
		var s model.Sample
		n := 0
		for {
			err := r.Read(&s)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			want, ok := rows[predKey{test, s.Line}]
			require.True(t, ok, "line %d has no prediction", s.Line)
			got := m.Margin(&s)
			require.Equal(t, math.Float64bits(want.margin), math.Float64bits(got), "line %d: margin %v, predict wrote %v", s.Line, got, want.margin)
			require.Equal(t, model.Sigmoid(want.margin), m.Score(&s))
			n++
		}
		f.Close()
		require.Equal(t, 2000, n)
		require.Len(t, rows, n)
	}
}

// TestLoadModelErrors: each way a directory can fail to be a model is
// refused with a message that says which.
func TestLoadModelErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := writeSynth(t, dir, model.SynthParams{Samples: 200, Features: 30, PerSample: 4, Seed: 3})
	out := filepath.Join(dir, "model")
	_, err := Train(ctx, TrainConfig{Inputs: []string{data}, WorkDir: filepath.Join(dir, "work"), Output: out,
		Train: model.TrainParams{Lambda: 1, Bias: true, BlockSize: 50, Iterations: 1}, Shards: 2, Run: runnerFor("direct")})
	require.NoError(t, err)
	info, err := ReadModel(ctx, out)
	require.NoError(t, err)

	// copyModel copies the model to a new directory, changed by edit.
	copyModel := func(edit func(dir string)) string {
		to := filepath.Join(t.TempDir(), "m")
		require.NoError(t, os.CopyFS(to, os.DirFS(out)))
		edit(to)
		return to
	}
	weights := filepath.Base(info.Files[0].Path)
	for _, tt := range []struct {
		name string
		dir  string
		want string
	}{
		{"missing", filepath.Join(dir, "nothing"), "is not a dpmr model"},
		{"no model.json", copyModel(func(d string) { os.Remove(filepath.Join(d, ModelFileName)) }), "is not a dpmr model"},
		{"other format", copyModel(func(d string) {
			path := filepath.Join(d, ModelFileName)
			var m map[string]any
			b, _ := os.ReadFile(path)
			require.NoError(t, json.Unmarshal(b, &m))
			m["format"] = "spark-ml"
			b, _ = json.Marshal(m)
			require.NoError(t, os.WriteFile(path, b, 0o644))
		}), `format "spark-ml" version 2, this dpmr reads "dpmr-logistic-regression"`},
		{"weights file missing", copyModel(func(d string) { os.Remove(filepath.Join(d, weights)) }), "the model is damaged"},
		{"weights file changed", copyModel(func(d string) {
			path := filepath.Join(d, weights)
			b, _ := os.ReadFile(path)
			b[len(b)-2] ^= 1 // a digit of the last weight, same size
			require.NoError(t, os.WriteFile(path, b, 0o644))
		}), "size or checksum differs from model.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadModel(ctx, tt.dir)
			require.Nil(t, m)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
