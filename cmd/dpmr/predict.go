package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/dpmr/dpmr/pipeline"
	"github.com/dpmr/dpmr/runners"
	"github.com/dpmr/dpmr/transforms"
)

func init() {
	register(command{name: "predict", summary: "score samples with a trained model (the paper's classifying pipeline)", setup: predictSetup})
}

func predictSetup(fs *flag.FlagSet) func() error {
	modelDir := fs.String("model", "", "model `DIR` written by dpmr train (required)")
	input := fs.String("input", "", "samples to score: a `GLOB`, or several separated by commas (required; .gz and .bz2 files are decompressed);\na line whose first token is a name:value feature has no label, and gets an empty label column")
	unlabelled := fs.Bool("unlabelled", false, "read every input line as features only, without a label, even a first token such as 1 or 0\n(for data whose first feature has no :value; never for labelled data, whose label would be read as a feature)")
	sampleWeights := fs.Bool("sample-weights", false, "read every line's label as training does, a sample weight label:weight included, and write each sample's weight\nas a sixth column, which eval's metrics then count (every line must have a label)")
	output := fs.String("output", "", "`DIR` for predictions-* and predictions.json (required)")
	workdir := fs.String("workdir", "", "`DIR` for the pipeline's own files (default OUTPUT.work)")
	shardThreshold := fs.Int64("shard-threshold", -1, "postings above which a feature is sharded (0: never; -1: derived from the data)")
	shards := fs.Int("shards", 8, "number of prediction files")
	splitBytes := fs.Int64("split-bytes", 0, "read a plain local input file larger than `N` bytes in pieces of about N, each by a worker of its own\n(0: 64 MiB; -1: every file by one worker); the blocks and line numbers are the same either way")
	partitions := fs.Int("partitions", 0, "parameter partitions (0: max(256, input size / 64 MiB))")
	return func() error {
		if *modelDir == "" || *input == "" || *output == "" {
			return usageError("--model, --input and --output are required")
		}
		if *shards < 1 {
			return usageError("--shards must be >= 1")
		}
		if *unlabelled && *sampleWeights {
			return usageError("--sample-weights reads labelled lines: it cannot go with --unlabelled")
		}
		if *partitions < 0 || *partitions > 1<<20 {
			return usageError("--partitions must be between 0 (derived) and 1048576")
		}
		if *workdir == "" {
			*workdir = strings.TrimSuffix(*output, "/") + ".work"
		}
		if err := runners.Validate(); err != nil {
			return usageError("%v", err)
		}
		info, err := pipeline.RunPredict(context.Background(), pipeline.PredictConfig{
			Model: *modelDir, Inputs: splitList(*input), Output: *output, WorkDir: *workdir,
			Sharding: transforms.ShardingParams{Threshold: *shardThreshold}, Shards: *shards, Partitions: int32(*partitions),
			Run: runners.Run, Log: os.Stdout, Unlabelled: *unlabelled, SampleWeights: *sampleWeights, SplitBytes: *splitBytes,
		})
		if err != nil {
			return err
		}
		unl := ""
		if info.Unlabelled > 0 {
			unl = fmt.Sprintf(", %d without a label", info.Unlabelled)
		}
		fmt.Printf("predictions: %s (%d samples%s, in %d files)\n", *output, info.Samples, unl, len(info.Files))
		return nil
	}
}
